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
from typing import Optional

from absl import flags
import numpy as np

from data_prep import synthetic_dataset
from data_prep import synthetic_tracks
from poem_cvmim.core import cli
from poem_cvmim.core import detections
from poem_cvmim.core import frames as frames_lib
from poem_cvmim.core import run_dirs
from poem_cvmim.core import tracks as tracks_lib
from poem_cvmim.temporal import configs
from poem_cvmim.temporal import evaluation
from poem_cvmim.temporal import filters

FLAGS = flags.FLAGS
_FULL = configs.TdmiConfig()
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
  flags.DEFINE_string('encoder', None, 'A trained encoder run (e.g. out/quickstart/cvmim): also '
                      'measure cross-view retrieval on held-out motion from clean, noisy, '
                      'filtered and refined detections.')
  flags.DEFINE_integer('retrieval_frame_stride', 4, 'Every n-th frame of a clip is a query.')


def _data(output_dir: str, data_dir, smoke: bool) -> dict:
  directory = data_dir or os.path.join(output_dir, 'data')
  paths = {part: os.path.join(directory, synthetic_tracks.REFINER_DIR, f'{part}.npz')
           for part in synthetic_tracks.PARTS}
  if not all(os.path.exists(p) for p in paths.values()):
    if data_dir:
      raise FileNotFoundError(f'{data_dir} lacks refiner/*.npz; write them with python -m '
                              'data_prep.synthetic --refiner_tracks_only --output_dir=...')
    config = (synthetic_dataset.smoke_config() if smoke
              else synthetic_dataset.SyntheticConfig())
    synthetic_tracks.write(config, directory)
  return paths


def _row(values: list) -> dict:
  """{metric: (mean, sd)} over runs."""
  return {metric: (float(np.mean([v[metric] for v in values])),
                   float(np.std([v[metric] for v in values])))
          for metric in METRICS}


def run(output_dir: str, seeds: list, num_steps: int, smoke: bool = False,
        data_dir: Optional[str] = None, eval_seed: int = 0, tune_tracks: int = 120,
        encoder: Optional[str] = None, frame_stride: int = 4, log=print,
        variants: Optional[list] = None) -> dict:
  """Trains what is missing, evaluates every row (of `variants`, default all, among the
  learned ones); returns the result (ablation.json)."""
  from poem_cvmim.temporal import refiner as refiner_lib  # pylint: disable=g-import-not-at-top
  paths = _data(output_dir, data_dir, smoke)
  tests = {part: tracks_lib.load(paths[part]) for part in PARTS}
  base = configs.RefinerConfig(num_steps=num_steps)
  noisy = {part: evaluation.corrupt_tracks(tests[part], base.noise, eval_seed)
           for part in PARTS}
  rows, settings = {}, {}
  motion = synthetic_tracks.HELDOUT_MOTION
  # Held-out motion as each method leaves it, for the downstream retrieval (--encoder).
  filled = {part: [filters.filled(p, s) for p, s in noisy[part]] for part in PARTS}
  inputs = {'clean (no detector)': [tests[motion].track(k) for k in range(len(tests[motion]))],
            'raw (interpolated)': filled[motion]}
  rows['raw (interpolated)'] = {part: _row([evaluation.summarize(tests[part], filled[part])])
                                for part in PARTS}
  tuning = evaluation.subset(tracks_lib.load(paths[synthetic_tracks.TRAIN]), tune_tracks)
  tuning_noisy = evaluation.corrupt_tracks(tuning, base.noise, eval_seed + 1)
  for name, label in FILTER_NAMES.items():
    params = evaluation.tune_filter(name, tuning, tuning_noisy)
    settings[label] = params
    rows[label] = {part: _row([evaluation.summarize(tests[part], [
        filters.apply(name, p, s, **params) for p, s in noisy[part]])]) for part in PARTS}
    inputs[label] = [filters.apply(name, p, s, **params) for p, s in noisy[motion]]
    log(f'[ablation] {label} {params}: ' + _brief(rows[label]))
  for variant, fields in VARIANTS.items():
    if variants is not None and variant not in variants:
      continue
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
        if part == motion and variant == 'TDMI':
          inputs[f'TDMI seed {seed}'] = estimates
      log(f'[ablation] {variant} seed {seed} ({time.time() - start:.0f} s): '
            + _brief({part: _row([per_seed[part][-1]]) for part in PARTS}))
    rows[variant] = {part: _row(per_seed[part]) for part in PARTS}
    settings[variant] = {'runs': len(seeds), **fields}
  result = {'rows': rows, 'settings': settings, 'seeds': seeds, 'num_steps': num_steps,
            'eval_seed': eval_seed, 'noise': dataclasses.asdict(base.noise),
            'frames': {part: tests[part].num_frames for part in PARTS}}
  if encoder:
    result['retrieval'] = downstream(encoder, tests[motion], inputs, frame_stride, log)
  run_dirs.write_json_atomic(os.path.join(output_dir, 'ablation.json'), result)
  markdown = render(result)
  with open(os.path.join(output_dir, 'ablation.md'), 'w') as f:
    f.write(markdown)
  return result


def frames_by_view(tracks: tracks_lib.TrackSet, estimates: list, stride: int) -> dict:
  """Retrieval's frames by view from per-track pixel estimates: every `stride`-th frame,
  profile-normalised, clips named by the performance (the same across cameras)."""
  parts = {}
  for k, estimate in enumerate(estimates):
    kept = np.arange(0, len(estimate), stride)
    view = parts.setdefault(str(tracks.views[k]), {'poses': [], 'clips': [], 'frames': []})
    view['poses'].append(detections.normalize(np.asarray(estimate)[kept],
                                              source=tracks.names[k]))
    view['clips'].append(np.full(len(kept), tracks.clips[k]))
    view['frames'].append(kept)
  return {v: frames_lib.Frames(**{key: np.concatenate(values) for key, values in d.items()})
          for v, d in parts.items()}


def downstream(encoder: str, tracks: tracks_lib.TrackSet, inputs: dict, stride: int,
               log=print) -> dict:
  """Cross-view exact-frame Hit@1/5/10 (%) of z_p and of raw keypoints, and z_p's same-camera
  rate, on held-out motion from each method's output."""
  from poem_cvmim.evaluation import embedders  # pylint: disable=g-import-not-at-top
  from poem_cvmim.evaluation import retrieval  # pylint: disable=g-import-not-at-top
  chosen = {'z_p': embedders.load_embedder(encoder),
            'raw': embedders.load_embedder(embedders.RAW)}
  table = {}
  for name, estimates in inputs.items():
    summary = retrieval.evaluate_embedders(chosen, frames_by_view(tracks, estimates, stride))
    table[name] = {
        embedder: {'hit': [100.0 * summary['embedders'][embedder]['hit_rates'][retrieval.FRAME]
                           ['mean'][k] for k in (1, 5, 10)],
                   'same_camera': _percent(summary['embedders'][embedder]['same_view_rate']
                                           ['pose'])}
        for embedder in chosen}
    log(f'[ablation] retrieval from {name}: z_p Hit@1 {table[name]["z_p"]["hit"][0]:.1f}')
  return {'encoder': encoder, 'frame_stride': stride, 'rows': table}


def _percent(rate):
  return None if rate is None else 100.0 * rate


def _brief(row: dict) -> str:
  return '; '.join(f'{part} {row[part]["error_norm"][0]:.4f}' for part in PARTS)


def _cell(value) -> str:
  return '–' if value is None else f'{value:.1f}'


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
  if 'retrieval' in result:
    down = result['retrieval']
    lines += ['', f'Cross-view retrieval on held-out motion (exact frame, every '
              f'{down["frame_stride"]}th frame; encoder {down["encoder"]}):', '',
              '| input | z_p Hit@1 | z_p Hit@5 | z_p Hit@10 | z_p same camera | raw Hit@1 | '
              'raw Hit@5 | raw Hit@10 |', '|---|---|---|---|---|---|---|---|']
    for name, row in down['rows'].items():
      lines.append(f'| {name} | ' + ' | '.join(f'{v:.1f}' for v in row['z_p']['hit'])
                   + f' | {_cell(row["z_p"]["same_camera"])} | '
                   + ' | '.join(f'{v:.1f}' for v in row['raw']['hit']) + ' |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  seeds = [int(s) for s in FLAGS.seeds]
  num_steps = FLAGS.num_steps
  if FLAGS.smoke:
    seeds, num_steps = seeds[:1], min(num_steps, 40)
  result = run(FLAGS.output_dir, seeds, num_steps, FLAGS.smoke, FLAGS.data_dir, FLAGS.eval_seed,
               FLAGS.tune_tracks, FLAGS.encoder, FLAGS.retrieval_frame_stride)
  print(render(result))
  print(f'written: {os.path.join(FLAGS.output_dir, "ablation.md")} and ablation.json')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
