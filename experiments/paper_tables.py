"""The paper's tables and Figure 3 as run plans and renderings (experiments/README.md).

Each table names its rows (methods), its dataset (Penn Action or NTU RGB+D, or their synthetic
twins penn_like / ntu_like) and its protocol; `build` expands it into runs of a `run_plan.Plan`
for a preset, and `render` reads the runs' result files — a missing run is '–'. The main job
(experiments/quickstart.py) renders its table with the same `tables.single_shot_table`.
"""

import dataclasses
import itertools
import json
import os
import time
from typing import Optional

from data_prep import synthetic_dataset as synthetic
from data_prep import synthetic_views
from experiments import run_plan
from poem_cvmim.action import classifier_configs
from poem_cvmim.action import protocols
from poem_cvmim.core import run_dirs
from poem_cvmim.core import shards
from poem_cvmim.evaluation import tables
from poem_cvmim.representation import configs

PENN, NTU = 'penn', 'ntu'
PAPER_NUMBERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'paper_numbers.json')


@dataclasses.dataclass(frozen=True)
class Method:
  """A row: a classifier on raw keypoints (`algorithm` None) or on z_p of an encoder."""
  classifier: str = classifier_configs.CONVNET
  algorithm: Optional[configs.AlgorithmConfig] = None
  own_recipe: bool = False  # the classifier's own training recipe (ST-GCN, HCN)


_CV_MIM = configs.AlgorithmConfig()  # the paper's defaults: mixture fusion, every term
METHODS = {
    'Res-TCN': Method(classifier_configs.RESTCN),
    'Temporal ConvNet': Method(classifier_configs.CONVNET),
    'Auto-Encoder': Method(algorithm=configs.AlgorithmConfig(
        algorithm=configs.ALGORITHM_AUTOENCODER)),
    'VAE': Method(algorithm=configs.beta_vae(1.0)),
    'β-VAE': Method(algorithm=configs.beta_vae(4.0)),
    'InfoNCE': Method(algorithm=configs.AlgorithmConfig(algorithm=configs.ALGORITHM_INFONCE)),
    'DIM': Method(algorithm=configs.AlgorithmConfig(algorithm=configs.ALGORITHM_INFOMAX)),
    'Pr-VIPE': Method(algorithm=configs.pr_vipe()),
    'CV-MIM': Method(algorithm=_CV_MIM),
    'ST-GCN': Method(classifier_configs.STGCN, own_recipe=True),
    'HCN': Method(classifier_configs.HCN, own_recipe=True),
    # Table 5: the fusion of z_p and z_v, and the ablated terms (Mixture is CV-MIM itself).
    'Concat': Method(algorithm=dataclasses.replace(_CV_MIM, fusion='CAT')),
    'Product': Method(algorithm=dataclasses.replace(_CV_MIM, fusion='POE')),
    'Mixture': Method(algorithm=_CV_MIM),
    'Mixture w/o L_inter': Method(algorithm=dataclasses.replace(_CV_MIM,
                                                                disentangle_loss_weight=0.0)),
    'Mixture w/o L_prior': Method(algorithm=dataclasses.replace(_CV_MIM, use_prior=False)),
}
_TABLE1_ROWS = ('Res-TCN', 'Temporal ConvNet', 'Auto-Encoder', 'VAE', 'β-VAE', 'InfoNCE', 'DIM',
                'Pr-VIPE', 'CV-MIM')
# Penn Action's views in the paper's column order; NTU's camera x replication views.
PENN_VIEWS = ('left', 'right', 'front', 'back')
NTU_VIEWS = ('C1R1', 'C1R2', 'C2R1', 'C2R2', 'C3R1', 'C3R2')
CROSS_SUBJECT, CROSS_VIEW = 'Cross-subject', 'Cross-view'
# NTU's cross-view protocol: train on cameras 2 and 3, test on camera 1.
CROSS_VIEW_TRAIN, CROSS_VIEW_TEST = ('C2R1', 'C2R2', 'C3R1', 'C3R2'), ('C1R1', 'C1R2')


@dataclasses.dataclass(frozen=True)
class Table:
  name: str
  title: str
  dataset: str
  kind: str  # 'single_shot', 'fully_supervised', 'cross', 'fractions'
  rows: tuple
  metrics: tuple = ('top1',)
  added_rows: tuple = ()  # rows the paper's table does not have: marked ADDED when shown

  def shown_rows(self) -> list:
    """The rows as the rendered table names them."""
    return [f'{row} {ADDED}' if row in self.added_rows else row for row in self.rows]


# The mark of a row added to a table of the paper (Tables 3 and 4's Temporal ConvNet).
ADDED = '(not in the paper)'


TABLES = {
    'table1': Table('table1', 'Penn Action, single-shot cross-view top-1 (%)', PENN,
                    'single_shot', _TABLE1_ROWS),
    'table2': Table('table2', 'Penn Action, fully supervised top-1 (%)', PENN,
                    'fully_supervised', _TABLE1_ROWS),
    'table3': Table('table3', 'NTU RGB+D, single-shot cross-view top-1 / top-5 (%)', NTU,
                    'single_shot', _TABLE1_ROWS + ('ST-GCN', 'HCN'), ('top1', 'top5'),
                    added_rows=('Temporal ConvNet',)),
    'table4': Table('table4', 'NTU RGB+D, cross-subject and cross-view top-1 (%)', NTU,
                    'cross', _TABLE1_ROWS + ('ST-GCN', 'HCN'), added_rows=('Temporal ConvNet',)),
    'table5': Table('table5', 'Penn Action, single-shot ablation, average top-1 (%)', PENN,
                    'single_shot', ('Concat', 'Product', 'Mixture', 'Mixture w/o L_inter',
                                    'Mixture w/o L_prior')),
    'figure3': Table('figure3', 'Top-1 (%) against the fraction of supervised training clips',
                     None, 'fractions', ('Temporal ConvNet', 'CV-MIM')),
}


@dataclasses.dataclass(frozen=True)
class Preset:
  """Sizes of every run of a table. `data` None: real converted records from the flags."""
  name: str
  data: Optional[synthetic.SyntheticConfig]
  encoder: configs.TrainConfig  # everything but the algorithm and the input
  classifier: dict  # dataset -> ClassifierConfig
  seeds: tuple
  fractions: tuple
  downsample_rate: dict = dataclasses.field(
      default_factory=lambda: {PENN: 2, NTU: 1})  # Penn Action's frame rate halved
  # Each representation row is trained once per encoder seed; a cell pools encoders x
  # classifier seeds (one encoder differs from another by as much as rows do).
  encoder_seeds: tuple = (0,)


PRESETS = {
    'smoke': Preset(
        'smoke', synthetic.smoke_config(),
        configs.smoke_config(num_steps=4, seed=0, deterministic=True),
        {PENN: classifier_configs.PRESETS['smoke'], NTU: classifier_configs.PRESETS['smoke']},
        seeds=(0,), fractions=(0.5, 1.0)),
    'synthetic': Preset(
        'synthetic', synthetic.SyntheticConfig(),
        configs.synthetic_schedule(),
        {PENN: classifier_configs.PRESETS['synthetic'],
         NTU: classifier_configs.PRESETS['synthetic']},
        seeds=(0, 1, 2, 3, 4), fractions=(0.05, 0.1, 0.25, 0.5, 1.0), encoder_seeds=(0, 1, 2)),
    'paper': Preset(
        'paper', None, configs.paper(seed=0),
        {PENN: classifier_configs.PRESETS['penn_action'],
         NTU: classifier_configs.PRESETS['ntu_rgbd']},
        seeds=(0, 1, 2, 3, 4), fractions=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0)),
}


@dataclasses.dataclass
class Inputs:
  """Where the records are: pair records for the encoders, sequences per dataset."""
  pairs: str
  sequences: dict  # dataset -> sequence directory
  # dataset -> views, for sequences not written yet (a dry run before the synthetic set is
  # generated); the others' views are read from their manifests.
  planned_views: Optional[dict] = None
  # NTU RGB+D converted with `--benchmark=xview` (train: cameras 2 and 3, test: camera 1):
  # Table 4's cross-view column. Without it, that column trains on cameras 2 and 3 of the
  # subject split's training subjects and tests on camera 1 of its test subjects.
  ntu_xview: Optional[str] = None


# The synthetic twins of the two action datasets: their view sets, which name their directories
# (data_prep/synthetic_dataset.py).
SYNTHETIC_VIEW_SETS = {PENN: synthetic_views.PENN_LIKE, NTU: synthetic_views.NTU_LIKE}


def synthetic_inputs(preset: Preset, output_dir: str, log=print, generate: bool = True,
                     poll_s: float = 5.0) -> Inputs:
  """Generates the preset's synthetic set under output_dir/data once (deterministic; another
  process generating it is waited for); with `generate` False (a dry run), only says where it
  is or would be."""
  data_dir = os.path.join(output_dir, 'data')
  done = os.path.join(data_dir, run_plan.DONE_NAME)
  key = dataclasses.asdict(preset.data)

  def is_ready():
    if not os.path.exists(done):
      return False
    with open(done) as f:
      return json.load(f).get('key') == json.loads(json.dumps(key))

  ready = is_ready()
  planned = None
  if not ready and not generate:
    log(f'[data] the synthetic set ({preset.name}) is not generated yet: a run generates it in '
        f'{data_dir}')
    planned = {dataset: list(synthetic_views.view_names(view_set))
               for dataset, view_set in SYNTHETIC_VIEW_SETS.items()}
  elif not ready:
    waiting = False
    while not is_ready():
      lock = run_dirs.DirectoryLock(data_dir, beside=True)  # one generator per directory
      if not lock.try_acquire():
        if not waiting:
          log(f'[data] another process is generating {data_dir}; waiting for it')
          waiting = True
        time.sleep(poll_s)
        continue
      try:
        if not is_ready():
          log(f'[data] generating the synthetic set ({preset.name}) in {data_dir}')
          synthetic.generate(preset.data, data_dir, overwrite=True, log=lambda _: None)
          shards.write_json_atomic(done, {'key': key})
      finally:
        lock.release()
  return Inputs(os.path.join(data_dir, synthetic.PAIRS_DIR, 'train-*'),
                {dataset: os.path.join(data_dir, view_set)
                 for dataset, view_set in SYNTHETIC_VIEW_SETS.items()}, planned)


def _classifier_config(preset, dataset, method):
  config = dataclasses.replace(preset.classifier[dataset], classifier=method.classifier)
  return classifier_configs.with_recipe(config) if method.own_recipe else config


def _features(plan, preset, inputs, dataset, row, method, encoder_seed, sequences=None):
  encoder = None
  if method.algorithm is not None:
    config = dataclasses.replace(preset.encoder, algorithm=method.algorithm,
                                 input_table=inputs.pairs, seed=encoder_seed)
    # Named by what it learns (not by the row): rows with one configuration share it.
    encoder = plan.encoder(f'{method.algorithm.algorithm}_{method.algorithm.fusion}', config)
  return plan.features(encoder, sequences or inputs.sequences[dataset],
                       preset.downsample_rate[dataset])


def views_of(inputs: Inputs, dataset: str) -> list:
  """The dataset's views, in the paper's order where it has them."""
  preferred = PENN_VIEWS if dataset == PENN else NTU_VIEWS
  if inputs.planned_views and dataset in inputs.planned_views:
    views = inputs.planned_views[dataset]
  else:
    views = shards.read_manifest(inputs.sequences[dataset])['views']
  return [v for v in preferred if v in views] + [v for v in views if v not in preferred]


def build(table: Table, preset: Preset, inputs: Inputs, plan: run_plan.Plan, rows=None,
          seeds=None, encoder_seeds=None) -> dict:
  """Adds the table's runs to `plan`; returns {row: [classifier Run, ...]} (with the column
  each run belongs to in `run.key`). A representation row has runs on the encoder of each of
  `encoder_seeds` (the preset's by default); a row on raw keypoints one set."""
  seeds = tuple(seeds if seeds is not None else preset.seeds)
  encoder_seeds = tuple(encoder_seeds if encoder_seeds is not None else preset.encoder_seeds)
  runs = {}
  datasets = [table.dataset] if table.dataset else [PENN, NTU]
  for row in rows or table.rows:
    method = METHODS[row]
    runs[row] = []
    for dataset, encoder_seed in itertools.product(
        datasets, encoder_seeds if method.algorithm is not None else encoder_seeds[:1]):
      if dataset not in inputs.sequences:
        continue
      feature_run = _features(plan, preset, inputs, dataset, row, method, encoder_seed)
      config = _classifier_config(preset, dataset, method)
      if table.kind == 'single_shot':
        specs = protocols.plan_runs(protocols.SINGLE_SHOT, seeds, views_of(inputs, dataset))
      elif table.kind == 'fractions':
        specs = protocols.plan_runs(protocols.LIMITED, seeds, fractions=preset.fractions)
      else:  # fully supervised; 'cross' adds the cross-view runs
        specs = protocols.plan_runs(protocols.FULLY_SUPERVISED, seeds)
      runs[row] += [plan.classifier(row, feature_run, config, spec) for spec in specs]
      if table.kind == 'cross' and inputs.ntu_xview:
        xview_run = _features(plan, preset, inputs, dataset, row, method, encoder_seed,
                              inputs.ntu_xview)
        runs[row] += [plan.classifier(row, xview_run, config, spec) for spec in specs]
      elif table.kind == 'cross':
        runs[row] += [plan.classifier(row, feature_run, config, spec,
                                      train_views=CROSS_VIEW_TRAIN, test_views=CROSS_VIEW_TEST)
                      for spec in specs]
  return runs


def _results(runs) -> list:
  """The result dicts of the finished runs, each with the run's key as 'plan_key'."""
  found = []
  for run in runs:
    if run.done():
      encoder = run.key['features']['encoder']
      with open(run.result_path) as f:
        found.append(dict(json.load(f), plan_key=run.key, encoder_seed=(
            None if encoder == run_plan.RAW else encoder['config']['seed'])))
  return found


def spread_note(table: Table, runs: dict) -> str:
  """What a cell covers, from the planned runs: encoders x classifier seeds, or classifier
  seeds alone for the rows on raw keypoints; the rows named where the rows differ."""
  def plural(count, what):
    return f'{count} {what}{"s" if count != 1 else ""}'
  groups = {}
  for row, row_runs in runs.items():
    if not row_runs:
      continue
    encoders = {json.dumps(r.key['features']['encoder'], sort_keys=True) for r in row_runs}
    seeds = plural(len({r.key['seed'] for r in row_runs}), 'classifier seed')
    raw = all(r.key['features']['encoder'] == run_plan.RAW for r in row_runs)
    what = f'{seeds} (raw keypoints)' if raw else f'{plural(len(encoders), "encoder")} x {seeds}'
    groups.setdefault(what, []).append(row)
  if len(groups) == 1:
    over = next(iter(groups))
  else:
    over = '; '.join(f'{what} for {", ".join(rows)}' for what, rows in groups.items())
  compared = 'the last column'
  if len(table.metrics) > 1:  # cells 'top-1 ± std / top-5 ± std'
    compared = 'the last column\'s top-1'
  return (f'Cells: mean ± std over {over}. "Within the spread of": the rows whose mean ± std '
          f'interval of {compared} overlaps this row\'s.')


def render(table: Table, runs: dict, inputs: Inputs, with_paper: bool = False):
  """The table (a DataFrame, or {dataset: DataFrame} for figure3) from the result files."""
  results = _results([r for row_runs in runs.values() for r in row_runs])
  rows = list(table.rows)  # rows not planned (--rows) show as missing
  if table.kind == 'single_shot':
    views = views_of(inputs, table.dataset)
    frame = tables.single_shot_table(results, rows=rows, views=views, metrics=table.metrics)
  elif table.kind == 'fully_supervised':
    frame = tables.column_table(results, rows, {'Top-1': lambda r: True})
  elif table.kind == 'cross':
    xview = run_plan.data_path(inputs.ntu_xview) if inputs.ntu_xview else None
    cross_view = lambda r: (bool(r['plan_key']['train_views'])
                            or r['plan_key']['features']['sequences'] == xview)
    frame = tables.column_table(results, rows, {
        CROSS_SUBJECT: lambda r: not cross_view(r), CROSS_VIEW: cross_view})
  else:  # fractions: one table per dataset, a column per fraction
    fractions = sorted({run.key['fraction'] for row_runs in runs.values() for run in row_runs})
    columns = {f'{100 * f:g}%': (lambda f: lambda r: r['fraction'] == f)(f) for f in fractions}
    return {dataset: tables.column_table(
        [r for r in results
         if r['plan_key']['features']['sequences'] == run_plan.data_path(directory)],
        rows, columns) for dataset, directory in inputs.sequences.items()}
  frame = tables.mark_overlaps(frame, frame.columns[-1])
  if with_paper:
    frame = with_paper_numbers(table, frame)
  frame.index = table.shown_rows()
  return frame


def with_paper_numbers(table: Table, frame):
  """`frame` with the paper's published numbers beside it: a column '<column> (paper)' for
  every column, '–' where the paper's value is not in paper_numbers.json."""
  with open(PAPER_NUMBERS) as f:
    published = json.load(f)['tables'].get(table.name, {})
  frame = frame.copy()
  for column in [c for c in frame.columns if c != tables.OVERLAP_COLUMN]:
    name = _paper_column(column)
    frame[f'{name} (paper)'] = [published.get(row, {}).get(name, tables.MISSING)
                                for row in frame.index]
  return frame


def _paper_column(column: str) -> str:
  return {'C1R1': 'C1-R1', 'C1R2': 'C1-R2', 'C2R1': 'C2-R1', 'C2R2': 'C2-R2', 'C3R1': 'C3-R1',
          'C3R2': 'C3-R2'}.get(column, column.capitalize() if column.islower() else column)
