r"""The TDMI refiner's ablation on keypoints: raw detections, classic filters, a capacity
control and the TDMI variants, on held-out subjects and held-out motion.

  python -m experiments.refiner_ablation [--output_dir=out/refiner] [--seeds=0,1] [--smoke]

Generates the synthetic set's clean tracks (data_prep/synthetic_tracks.py) under
<output_dir>/data unless --data_dir has them, trains every learned variant for every seed under
<output_dir>/runs/<variant>/seed<k> (finished runs are reused, killed ones resume), corrupts
the held-out tracks once with the detector model (--eval_seed) so every method sees the same
detections, tunes each classic filter's parameters on corrupted training tracks, and prints
and writes <output_dir>/ablation.{md,json}. Rows (docs/tdmi.md, "The ablation"):

- raw: the detections, missing joints linearly interpolated in time (what the readers do);
- Butterworth / Savitzky-Golay / One-Euro: the classic filters, tuned;
- temporal conv (control): the refiner's very layers fed the per-frame features instead of
  their temporal differences (same parameter count);
- TDMI w/o MI, TDMI single-stage, TDMI: the paper's ablation.
"""

import dataclasses
import os
import time

from absl import flags
import numpy as np

from data_prep import synthetic_dataset
from data_prep import synthetic_tracks
from poem_cvmim.core import cli
from poem_cvmim.core import run_dirs
from poem_cvmim.core import tracks as tracks_lib
from poem_cvmim.temporal import evaluation
from poem_cvmim.temporal import filters
from poem_cvmim.temporal import refiner as refiner_lib
from poem_cvmim.temporal import tdmi

FLAGS = flags.FLAGS
_FULL = tdmi.TdmiConfig()
# The learned rows: name -> the TdmiConfig fields that differ from the full model.
VARIANTS = {
    'temporal conv (control)': {'differences': False, 'mi_weight': 0.0},
    'TDMI w/o MI': {'mi_weight': 0.0},
    'TDMI single-stage': {'num_stages': 1},
    'TDMI': {},
}
FILTER_NAMES = {'butterworth': 'Butterworth', 'savitzky_golay': 'Savitzky-Golay',
                'one_euro': 'One-Euro'}
PARTS = (synthetic_tracks.HELDOUT_SUBJECTS, synthetic_tracks.HELDOUT_MOTION)
METRICS = ('error_px', 'error_norm', 'pck@0.05', 'pck@0.1')


def define_flags():
  flags.DEFINE_string('output_dir', 'out/refiner', 'Runs, data and the table.')
  flags.DEFINE_string('data_dir', None, 'Directory holding refiner/*.npz (default: generated '
                      'under <output_dir>/data).')
  flags.DEFINE_list('seeds', ['0', '1'], 'Seeds of every learned variant.')
  cli.register_check('seeds', cli.parse_seeds)
  flags.DEFINE_integer('num_steps', 3000, 'Training steps of each learned run.')
  flags.DEFINE_integer('eval_seed', 0, 'Seed of the held-out detections.')
  flags.DEFINE_integer('tune_tracks', 120, 'Training tracks the classic filters are tuned on.')
  flags.DEFINE_boolean('smoke', False, 'Tiny data, 40 steps, one seed (tests, demos).')


def _data(output_dir: str) -> dict:
  directory = FLAGS.data_dir or os.path.join(output_dir, 'data')
  paths = {part: os.path.join(directory, synthetic_tracks.REFINER_DIR, f'{part}.npz')
           for part in synthetic_tracks.PARTS}
  if not all(os.path.exists(p) for p in paths.values()):
    if FLAGS.data_dir:
      raise FileNotFoundError(f'{FLAGS.data_dir} lacks refiner/*.npz; write them with python -m '
                              'data_prep.synthetic --refiner_tracks_only --output_dir=...')
    config = (synthetic_dataset.smoke_config() if FLAGS.smoke
              else synthetic_dataset.SyntheticConfig())
    synthetic_tracks.write(config, directory)
  return paths


def _row(values: list) -> dict:
  """{metric: (mean, sd)} over runs."""
  return {metric: (float(np.mean([v[metric] for v in values])),
                   float(np.std([v[metric] for v in values])))
          for metric in METRICS}


def run(output_dir: str, seeds: list, num_steps: int, smoke: bool) -> dict:
  paths = _data(output_dir)
  tests = {part: tracks_lib.load(paths[part]) for part in PARTS}
  base = refiner_lib.RefinerConfig(num_steps=num_steps)
  noisy = {part: evaluation.corrupt_tracks(tests[part], base.noise, FLAGS.eval_seed)
           for part in PARTS}
  rows, settings = {}, {}
  rows['raw (interpolated)'] = {part: _row([evaluation.summarize(tests[part], [
      filters.filled(p, s) for p, s in noisy[part]])]) for part in PARTS}
  tuning = evaluation.subset(tracks_lib.load(paths[synthetic_tracks.TRAIN]), FLAGS.tune_tracks)
  tuning_noisy = evaluation.corrupt_tracks(tuning, base.noise, FLAGS.eval_seed + 1)
  for name, label in FILTER_NAMES.items():
    params = evaluation.tune_filter(name, tuning, tuning_noisy)
    settings[label] = params
    rows[label] = {part: _row([evaluation.summarize(tests[part], [
        filters.apply(name, p, s, **params) for p, s in noisy[part]])]) for part in PARTS}
    print(f'[ablation] {label} {params}: ' + _brief(rows[label]))
  for variant, fields in VARIANTS.items():
    per_seed = {part: [] for part in PARTS}
    for seed in seeds:
      config = dataclasses.replace(base, seed=seed,
                                   model=dataclasses.replace(_FULL, **fields))
      run_dir = os.path.join(output_dir, 'runs', variant.split(' (')[0].replace(' ', '_')
                             .replace('/', ''), f'seed{seed}')
      start = time.time()
      trained = refiner_lib.train(config, paths[synthetic_tracks.TRAIN], run_dir,
                                  verbose=not smoke)
      for part in PARTS:
        estimates = [trained.refine(p, s) for p, s in noisy[part]]
        per_seed[part].append(evaluation.summarize(tests[part], estimates))
      print(f'[ablation] {variant} seed {seed} ({time.time() - start:.0f} s): '
            + _brief({part: _row([per_seed[part][-1]]) for part in PARTS}))
    rows[variant] = {part: _row(per_seed[part]) for part in PARTS}
    settings[variant] = {'runs': len(seeds), **fields}
  result = {'rows': rows, 'settings': settings, 'seeds': seeds, 'num_steps': num_steps,
            'eval_seed': FLAGS.eval_seed, 'noise': dataclasses.asdict(base.noise),
            'frames': {part: tests[part].num_frames for part in PARTS}}
  run_dirs.write_json_atomic(os.path.join(output_dir, 'ablation.json'), result)
  markdown = render(result)
  with open(os.path.join(output_dir, 'ablation.md'), 'w') as f:
    f.write(markdown)
  return result


def _brief(row: dict) -> str:
  return '; '.join(f'{part} {row[part]["error_norm"][0]:.4f}' for part in PARTS)


def render(result: dict) -> str:
  """The table as Markdown: per part, mean 2D error (px, normalised) and PCK (%)."""
  header = ['method']
  for part in PARTS:
    header += [f'{part}: err px', 'err norm', 'PCK@0.05', 'PCK@0.1']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for name, row in result['rows'].items():
    cells = [name]
    for part in PARTS:
      for metric in METRICS:
        mean, sd = row[part][metric]
        digits = 4 if metric == 'error_norm' else 2
        runs = result['settings'].get(name, {}).get('runs', 1)
        cells.append(f'{mean:.{digits}f}' + (f' ± {sd:.{digits}f}' if runs > 1 else ''))
    lines.append('| ' + ' | '.join(cells) + ' |')
  frames = ', '.join(f'{part} {n} frames' for part, n in result['frames'].items())
  lines.append('')
  lines.append(f'Mean ± sd over seeds {",".join(map(str, result["seeds"]))} '
               f'({result["num_steps"]} steps each); {frames}; detections drawn once (seed '
               f'{result["eval_seed"]}); PCK thresholds in normalised units (torso\'s largest '
               'side = 0.5).')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  seeds = [int(s) for s in FLAGS.seeds]
  num_steps = FLAGS.num_steps
  if FLAGS.smoke:
    seeds, num_steps = seeds[:1], min(num_steps, 40)
  result = run(FLAGS.output_dir, seeds, num_steps, FLAGS.smoke)
  print(render(result))
  print(f'written: {os.path.join(FLAGS.output_dir, "ablation.md")} and ablation.json')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
