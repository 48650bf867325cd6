"""Throughput of the keypoint refiner on a user's path: windows, normalisation, the network
and back to pixels (`TrainedRefiner.refine`), in frames per second.

The weights do not change the cost, so a freshly built refiner of the default configuration
is timed on a synthetic person (a pose swinging in place, with the default detector model).
The network alone (one call on ready inputs) is timed beside it to show where the time goes.
"""

import statistics
import time

import numpy as np
import tensorflow as tf

from poem_cvmim.temporal import noise as noise_lib
from poem_cvmim.temporal import refiner as refiner_lib
from poem_cvmim.temporal import tdmi
from poem_cvmim.temporal import windows


def _track(num_frames: int, rng: np.random.Generator) -> tuple:
  base = rng.uniform(300.0, 700.0, (1, 13, 2))
  swing = 40.0 * np.sin(np.arange(num_frames) / 6.0)[:, None, None]
  clean = base + swing * rng.uniform(-1.0, 1.0, (1, 13, 2))
  return noise_lib.corrupt(clean, noise_lib.DetectorNoise(), rng)


def interleaved(num_frames: int, rounds: int, config=None) -> dict:
  """{'refine': [frames/s per round], 'network': [...]}."""
  config = config or refiner_lib.RefinerConfig()
  refiner, _ = tdmi.build(config.model)
  trained = refiner_lib.TrainedRefiner(config, refiner)
  points, scores = _track(num_frames, np.random.default_rng(0))
  rows = windows.window_indices(num_frames, config.model.radius)
  inputs = tf.constant(windows.normalize(points[rows], scores[rows])[0], tf.float32)
  trained.refine(points[:64], scores[:64])  # trace once
  predict = tf.function(refiner)
  predict(inputs)
  rates = {'refine': [], 'network': []}
  for _ in range(rounds):
    start = time.perf_counter()
    trained.refine(points, scores)
    rates['refine'].append(num_frames / (time.perf_counter() - start))
    start = time.perf_counter()
    predict(inputs).numpy()
    rates['network'].append(num_frames / (time.perf_counter() - start))
  return rates


def format_report(rates: dict, num_frames: int) -> str:
  lines = [f'keypoint refiner, {num_frames} frames a round (median [range] over '
           f'{len(rates["refine"])} rounds)']
  for name, label in (('refine', 'refine (windows + network + pixels)'),
                      ('network', 'network alone')):
    values = rates[name]
    lines.append(f'  {label}: {statistics.median(values):,.0f} frames/s '
                 f'[{min(values):,.0f} - {max(values):,.0f}]')
  return '\n'.join(lines)
