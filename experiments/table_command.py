r"""The command behind every paper table and Figure 3 (experiments/table1.py ... figure3.py).

  python -m experiments.table1 --preset=synthetic --output_dir=out/paper [--dry_run]
  python -m experiments.table3 --preset=paper --pairs='h36m/train-*' \
      --ntu_sequences=ntu/sequences --output_dir=out/paper --with_paper

The command expands into its runs (encoder trainings, feature tables, classifier runs), each
keyed by its configuration under --output_dir, so runs shared by rows or tables are done once;
finished runs are skipped and a killed one resumes. Then it renders the table from the result
files (Markdown, CSV, LaTeX; Figure 3: a PNG and its CSV). `--dry_run` prints the plan.
"""

import os
import time

from absl import flags

from experiments import paper_tables
from experiments import run_plan
from poem_cvmim.core import cli
from poem_cvmim.core import errors
from poem_cvmim.evaluation import tables

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_enum('preset', 'synthetic', list(paper_tables.PRESETS),
                    'smoke: seconds on tiny synthetic data; synthetic: the built-in set; '
                    'paper: converted records (--pairs and the sequences).')
  flags.DEFINE_string('output_dir', 'out/paper', 'Runs, data and tables (shared by tables).')
  flags.DEFINE_string('pairs', None, 'paper preset: pair records for the encoders.')
  flags.DEFINE_string('penn_sequences', None, 'paper preset: Penn Action sequence records.')
  flags.DEFINE_string('ntu_sequences', None, 'paper preset: NTU RGB+D sequence records.')
  flags.DEFINE_string('ntu_xview_sequences', None, 'paper preset, Table 4: NTU RGB+D converted '
                      'with --benchmark=xview, for the cross-view column (without it: cameras '
                      '2, 3 -> 1 within the subject split).')
  flags.DEFINE_list('seeds', None, 'Classifier seeds (the preset\'s by default).')
  cli.register_check('seeds', cli.parse_seeds)
  flags.DEFINE_list('encoder_seeds', None, 'Seeds of the encoders of every representation row '
                    '(the preset\'s by default: synthetic 0,1,2; smoke and paper 0).')
  cli.register_check('encoder_seeds', cli.whole_numbers('encoder_seeds', 0))
  flags.DEFINE_list('rows', None, 'Only these rows (by name).')
  flags.DEFINE_boolean('dry_run', False, 'Print the plan and stop.')
  flags.DEFINE_boolean('with_paper', False, 'Add the paper\'s published numbers beside ours.')
  flags.DEFINE_string('shard', '0/1', 'K/N: worker K of N sharing --output_dir (a SLURM array: '
                      '$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT). Each run is done once, by '
                      'whichever worker claims it; every worker returns when the plan is done.')
  cli.register_check('shard', run_plan.parse_shard)


def inputs_from_flags(preset, output_dir, dry_run=False):
  if preset.data is not None:
    if FLAGS.ntu_xview_sequences:
      raise errors.InputError('--ntu_xview_sequences is for the paper preset (converted NTU '
                              'RGB+D); the synthetic presets use their own NTU-like set.')
    return paper_tables.synthetic_inputs(preset, output_dir, generate=not dry_run)
  sequences = {dataset: path for dataset, path in ((paper_tables.PENN, FLAGS.penn_sequences),
                                                   (paper_tables.NTU, FLAGS.ntu_sequences))
               if path}
  if not FLAGS.pairs or not sequences:
    raise errors.InputError('The paper preset needs --pairs and --penn_sequences and/or '
                            '--ntu_sequences (converted records; README "Converting ...").')
  return paper_tables.Inputs(FLAGS.pairs, sequences, ntu_xview=FLAGS.ntu_xview_sequences)


_KIND_NAMES = {'encoder': 'encoders', 'features': 'feature tables', 'classifier': 'classifier runs'}


def format_duration(seconds: float) -> str:
  if seconds < 120:
    return f'{seconds:.0f} s'
  if seconds < 2 * 3600:
    return f'{seconds / 60:.0f} min'
  return f'{seconds / 3600:.1f} h'


def run(name: str, output_dir: str, preset_name: str, rows=None, seeds=None,
        encoder_seeds=None, dry_run: bool = False, with_paper: bool = False, log=print,
        inputs=None, shard=(0, 1)) -> dict:
  """Plans, runs what is missing and renders one table; returns {'plan', 'ran', 'table'}."""
  table = paper_tables.TABLES[name]
  preset = paper_tables.PRESETS[preset_name]
  unknown = [r for r in rows or () if r not in table.rows]
  if unknown:
    raise errors.InputError(f'{name} has no row {unknown[0]!r}; rows: {", ".join(table.rows)}.')
  if table.dataset and inputs is not None and table.dataset not in inputs.sequences:
    raise errors.InputError(f'{name} needs the {table.dataset} sequences.')
  plan = run_plan.Plan(os.path.join(output_dir, preset.name))
  runs = paper_tables.build(table, preset, inputs, plan, rows, seeds, encoder_seeds)
  # Rows left out by --rows are not run, but those an earlier command finished are shown.
  every_row = paper_tables.build(table, preset, inputs,
                                 run_plan.Plan(os.path.join(output_dir, preset.name)), None,
                                 seeds, encoder_seeds)
  log(f'{name}: {len(plan.runs)} runs, {sum(not r.done() for r in plan.runs.values())} to do')
  if dry_run:
    log(plan.describe())
    estimate = plan.estimate()
    log(f'{name}: the runs to do would take about {format_duration(estimate["seconds"])} in one '
        'process here (' + ', '.join(f'{_KIND_NAMES[kind]} {format_duration(seconds)}'
                                     for kind, seconds in estimate['by_kind'].items())
        + f'; {estimate["measured"]} runs from the timings of runs done in this directory, '
        f'{estimate["defaults"]} from the 2-core reference costs)')
    return {'plan': plan, 'ran': 0, 'table': None, 'estimate': estimate}
  start = time.time()
  ran = plan.execute(log, shard=shard)
  shown = {row: runs.get(row) or [r for r in every_row[row] if r.done()] for row in every_row}
  rendered = paper_tables.render(table, shown, inputs, with_paper)
  stem = os.path.join(output_dir, preset.name, name)
  if isinstance(rendered, dict):
    write_figure3(rendered, stem, table.title, synthetic=preset.data is not None)
    markdown = '\n\n'.join(f'{dataset}:\n\n{tables.to_markdown(frame)}'
                           for dataset, frame in rendered.items())
  else:
    markdown = tables.write_table(rendered, stem, paper_tables.spread_note(table, shown))
  log(f'{name}: {ran} runs done in {time.time() - start:.0f} s; {stem}.*')
  return {'plan': plan, 'ran': ran, 'table': rendered, 'markdown': markdown}


def write_figure3(frames: dict, stem: str, title: str, synthetic: bool = False) -> None:
  """figure3.csv (dataset, method, fraction, mean, std) and figure3.png (panels named after
  the synthetic twins when `synthetic`)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = []
  for dataset, frame in frames.items():
    for method, values in frame.iterrows():
      for column, cell in values.items():
        parsed = tables.parse_cell(cell)
        mean, std = (f'{parsed[0]:.1f}', f'{parsed[1]:.1f}') if parsed else ('', '0')
        rows.append((dataset, method, float(column.rstrip('%')) / 100, mean, std))
  with open(stem + '.csv', 'w') as f:
    f.write('dataset,method,fraction,top1_mean,top1_std\n')
    f.writelines(f'{d},{m},{fr:g},{mean},{std}\n' for d, m, fr, mean, std in rows)
  fig, axes = plt.subplots(1, len(frames), figsize=(5 * len(frames), 4), squeeze=False)
  for axis, dataset in zip(axes[0], frames):
    for method in frames[dataset].index:
      points = [(fr, float(mean), float(std)) for d, m, fr, mean, std in rows
                if d == dataset and m == method and mean]
      if points:
        x, y, e = zip(*points)
        label = method + (' on raw keypoints' if method == 'Temporal ConvNet' else ' (z_p)')
        axis.errorbar([100 * v for v in x], y, yerr=e, marker='o', capsize=3, label=label)
    percents = sorted({100 * fr for d, _, fr, _, _ in rows if d == dataset})
    axis.set_xscale('log')
    axis.set_xticks(percents, [f'{p:g}' for p in percents])
    axis.minorticks_off()
    axis.set_xlabel('supervised training clips (%)')
    axis.set_ylabel('top-1 accuracy (%)')
    names = ({'penn': 'penn-like (synthetic)', 'ntu': 'ntu-like (synthetic)'} if synthetic
             else {'penn': 'Penn Action', 'ntu': 'NTU RGB+D'})
    axis.set_title(names.get(dataset, dataset))
    axis.grid(alpha=0.3)
    axis.legend()
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(stem + '.png', dpi=120)
  plt.close(fig)


def main_for(name: str):
  def main(argv):
    del argv
    # Imported here, not at the top: --help must not load TensorFlow.
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.get_logger().setLevel('ERROR')
    preset = paper_tables.PRESETS[FLAGS.preset]
    if preset.encoder.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)  # each encoder and classifier run seeds itself
    inputs = inputs_from_flags(preset, FLAGS.output_dir, FLAGS.dry_run)
    outcome = run(name, FLAGS.output_dir, FLAGS.preset, FLAGS.rows,
                  [int(s) for s in FLAGS.seeds] if FLAGS.seeds else None,
                  [int(s) for s in FLAGS.encoder_seeds] if FLAGS.encoder_seeds else None,
                  FLAGS.dry_run, FLAGS.with_paper, inputs=inputs,
                  shard=run_plan.parse_shard(FLAGS.shard))
    if outcome['table'] is not None:
      print(f'\n{paper_tables.TABLES[name].title} ({FLAGS.preset} preset):\n')
      print(outcome['markdown'])
  return main


def command(name: str):
  cli.run(main_for(name), define_flags, tensorflow=True)
