"""What a classifier run costs beyond its steps.

On random features of the synthetic penn-like shape (240 training clips of 80 frames x 32, 320
test clips, 10 classes) with the synthetic preset (Temporal ConvNet, 300 steps of 32), each
interleaved round times:
- `steady`: the 300 training steps alone, in a model already built and traced;
- `pooled_run`: a whole run as the table commands make it (a checkpoint at the end, evaluation
  on the test clips), in the pool's model re-initialised from the run's seed;
- `fresh_run`: the same run in a model built and traced for it (no pool, as before the
  pool).
"""

import dataclasses
import tempfile
import time

import numpy as np
import tensorflow as tf

from poem_cvmim.action import classifier_configs
from poem_cvmim.action import classify
from poem_cvmim.core import feature_tables
from poem_cvmim.core import timing

SHAPE = dict(train_clips=240, test_clips=320, frames=80, dim=32, classes=10)


def _features(seed, clips):
  rng = np.random.default_rng(seed)
  labels = np.arange(clips) % SHAPE['classes']
  features = (rng.normal(size=(clips, SHAPE['frames'], SHAPE['dim']))
              + 0.2 * labels[:, None, None]).astype(np.float32)
  return feature_tables.FeatureSet(features, labels, np.array(['v'] * clips),
                                   np.array(['s'] * clips))


def _run(config, train, test, seed, pool):
  with tempfile.TemporaryDirectory() as directory:
    classifier = classify.train_classifier(config, train, SHAPE['classes'], seed=seed,
                                           output_dir=directory, pool=pool)
    classify.evaluate(classifier, test)


def _steady(config, train, seed, pool):
  """Seconds of `num_steps` steps in the pooled model (already traced by a run)."""
  session = pool.get(config, train, SHAPE['classes'])
  iterator = iter(classify._dataset(train, np.zeros(SHAPE['dim'], np.float32),  # pylint: disable=protected-access
                                    np.ones(SHAPE['dim'], np.float32), config.batch_size, seed))
  start = time.perf_counter()
  session.loop(iterator, tf.constant(config.num_steps))['loss'].numpy()
  return time.perf_counter() - start


def interleaved(rounds: int, num_steps: int = 300, log=print) -> dict:
  """{'steady' | 'pooled_run' | 'fresh_run': [seconds of each round]}."""
  config = dataclasses.replace(classifier_configs.PRESETS['synthetic'], num_steps=num_steps)
  train, test = _features(0, SHAPE['train_clips']), _features(1, SHAPE['test_clips'])
  pool = classify.ClassifierPool()
  _run(config, train, test, seed=100, pool=pool)  # builds and traces the pool's model
  times = {'steady': [], 'pooled_run': [], 'fresh_run': []}
  for index in range(rounds):
    times['steady'].append(_steady(config, train, index, pool))
    start = time.perf_counter()
    _run(config, train, test, seed=index, pool=pool)
    times['pooled_run'].append(time.perf_counter() - start)
    start = time.perf_counter()
    _run(config, train, test, seed=index, pool=None)
    times['fresh_run'].append(time.perf_counter() - start)
    log(f'round {index + 1} of {rounds}: '
        + ', '.join(f'{k} {v[-1]:.2f} s' for k, v in times.items()))
  return times


def format_report(times: dict, num_steps: int = 300) -> str:
  lines = [f'classifier runs ({num_steps} steps, Temporal ConvNet, batch 32, '
           f'{len(times["steady"])} interleaved rounds, medians [min–max])']
  for name, values in times.items():
    lines.append(f'{name:11s} {timing.spread(values)} s')
  for name in ('pooled_run', 'fresh_run'):
    ratios = [run / steady for run, steady in zip(times[name], times['steady'])]
    lines.append(f'{name} / steady : {timing.spread(ratios, "{:.2f}")}')
  return '\n'.join(lines)
