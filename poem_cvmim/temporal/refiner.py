"""Training, restoring and running the keypoint refiner (docs/tdmi.md).

A run directory holds `config.json` (the `RefinerConfig`), `identity.json` (the config and the
training tracks' content hash: another config or other tracks in the same directory are
refused), TensorFlow checkpoints (refiner, CLUB estimator, both optimizers; the step is the
refiner optimizer's) and TensorBoard scalars under `train/`. A batch depends only on (seed,
step): a killed run resumes exactly.
"""

import json
import os
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from poem_cvmim.core import checkpointing
from poem_cvmim.core import errors
from poem_cvmim.core import records
from poem_cvmim.core import run_dirs
from poem_cvmim.core import tracks as tracks_lib
from poem_cvmim.core import training_loop
from poem_cvmim.temporal import configs
from poem_cvmim.temporal import noise as noise_lib
from poem_cvmim.temporal import tdmi
from poem_cvmim.temporal import windows as windows_lib

CONFIG_NAME = 'config.json'
INFERENCE_BATCH = 4096
RefinerConfig = configs.RefinerConfig


def sample_windows(tracks: tracks_lib.TrackSet, count: int, radius: int,
                   rng: np.random.Generator) -> np.ndarray:
  """[count, 2r + 1, 13, 2] clean windows: key frames uniform over all frames, each window
  clamped to its track."""
  keys = rng.integers(0, tracks.num_frames, count)
  track = np.searchsorted(tracks.starts, keys, side='right') - 1
  first, last = tracks.starts[track], tracks.starts[track + 1] - 1
  rows = np.clip(keys[:, None] + np.arange(-radius, radius + 1), first[:, None], last[:, None])
  return tracks.points[rows].astype(np.float64)


def make_batch(clean: np.ndarray, config: RefinerConfig, rng: np.random.Generator) -> tuple:
  """(inputs [B, W, 13, 3], targets [B, 13, 2]) float32 in window units from clean windows."""
  detections, scores = noise_lib.corrupt(clean, config.noise, rng)
  inputs, centre, unit = windows_lib.normalize(detections, scores, config.min_score)
  targets = (clean[:, config.model.radius] - centre[:, 0]) / unit[:, 0]
  return inputs.astype(np.float32), targets.astype(np.float32)


def batch_at(tracks: tracks_lib.TrackSet, config: RefinerConfig, step: int) -> tuple:
  """The training batch of a step (depends on the seed and the step only)."""
  rng = np.random.default_rng([config.seed, step])
  return make_batch(sample_windows(tracks, config.batch_size, config.model.radius, rng),
                    config, rng)


class _Session:
  """The networks, optimizers and compiled step of one run."""

  def __init__(self, config: RefinerConfig, dtype='float32'):
    self.config = config
    self.refiner, self.estimator = tdmi.build(config.model, dtype)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.num_steps,
                                                       alpha=0.05)
    self.optimizer = keras.optimizers.Adam(schedule)
    self.optimizer.build(self.refiner.trainable_variables)
    self.estimator_optimizer = None
    if self.estimator is not None:
      self.estimator_optimizer = keras.optimizers.Adam(config.estimator_learning_rate)
      self.estimator_optimizer.build(self.estimator.trainable_variables)
    self.checkpoint = tf.train.Checkpoint(
        refiner=self.refiner, optimizer=self.optimizer,
        **({'estimator': self.estimator, 'estimator_optimizer': self.estimator_optimizer}
           if self.estimator is not None else {}))
    self._step = tf.function(self._train_step, reduce_retracing=True)

  def step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  def _train_step(self, inputs, targets):
    with tf.GradientTape(persistent=True) as tape:
      terms = tdmi.losses(self.refiner, self.estimator, self.config.model, inputs, targets)
    variables = self.refiner.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(terms['refiner/total_loss'], variables),
                                       variables))
    if self.estimator is not None:
      variables = self.estimator.trainable_variables
      self.estimator_optimizer.apply_gradients(
          zip(tape.gradient(terms['estimator/likelihood_loss'], variables), variables))
    del tape
    return terms

  def run(self, tracks, num_steps: int) -> dict:
    terms = {}
    for _ in range(int(num_steps)):
      inputs, targets = batch_at(tracks, self.config, self.step())
      terms = self._step(tf.constant(inputs), tf.constant(targets))
    return terms


def identity(config: RefinerConfig, tracks: tracks_lib.TrackSet) -> dict:
  return {'config': config.to_dict(), 'tracks': tracks.content_sha256()}


def train(config: RefinerConfig, tracks_path: str, output_dir: Optional[str],
          overwrite: bool = False, verbose: bool = True) -> 'TrainedRefiner':
  """Trains (or resumes, or reuses a finished run in `output_dir`); returns the refiner."""
  tracks = tracks_lib.load(tracks_path)
  keras.utils.set_random_seed(config.seed)  # this run's initial weights
  session = _Session(config)
  manager = None
  if output_dir:
    run_dirs.check_identity(output_dir, identity(config, tracks), overwrite,
                            schedule=('config.checkpoint_interval', 'config.steps_per_loop'),
                            what='refiner run')
    run_dirs.write_json_atomic(os.path.join(output_dir, CONFIG_NAME), config.to_dict())
    manager = tf.train.CheckpointManager(session.checkpoint, output_dir, max_to_keep=1)
    checkpointing.restore_latest_intact(session.checkpoint, output_dir, partial=True)
  training_loop.Controller(
      run=lambda num_steps: session.run(tracks, num_steps),
      step=session.step,
      cadence=training_loop.Cadence(config.num_steps,
                                    config.checkpoint_interval if manager else None,
                                    config.steps_per_loop),
      checkpoint_manager=manager,
      summary_dir=os.path.join(output_dir, 'train') if output_dir else None,
      progress_term='refiner/error_loss', verbose=verbose).train()
  return TrainedRefiner(config, session.refiner)


class TrainedRefiner:
  """A refiner ready to run on tracks."""

  def __init__(self, config: RefinerConfig, refiner: tdmi.Refiner):
    self.config, self.refiner = config, refiner
    window = config.model.window
    self._predict = tf.function(
        refiner, input_signature=[tf.TensorSpec([None, window, tdmi.NUM_JOINTS,
                                                 tdmi.INPUT_CHANNELS], refiner.compute_dtype)])

  def refine(self, points: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Refined (y, x) pixels [T, 13, 2] of one person's consecutive detections: points
    [T, 13, 2] pixels and confidences [T, 13]."""
    points, scores = np.asarray(points, np.float64), np.asarray(scores, np.float64)
    if points.ndim != 3 or points.shape[1:] != (tdmi.NUM_JOINTS, 2) or scores.shape != \
        points.shape[:2]:
      raise errors.InputError(f'a track is points [T, 13, 2] with scores [T, 13], got '
                              f'{points.shape} and {scores.shape}.')
    rows = windows_lib.window_indices(len(points), self.config.model.radius)
    refined = []
    for start in range(0, len(points), INFERENCE_BATCH):
      part = rows[start:start + INFERENCE_BATCH]
      inputs, centre, unit = windows_lib.normalize(points[part], scores[part],
                                                   self.config.min_score)
      output = self._predict(tf.constant(inputs, self.refiner.compute_dtype)).numpy()
      refined.append(windows_lib.to_pixels(output.astype(np.float64), centre, unit))
    return np.concatenate(refined) if refined else np.zeros_like(points)


def load(run_dir: str) -> TrainedRefiner:
  """The refiner of a run directory at its latest checkpoint."""
  path = os.path.join(run_dir, CONFIG_NAME)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{run_dir} is not a refiner run (no {CONFIG_NAME}); train one with '
                            'python -m poem_cvmim.train_refiner.')
  with open(path) as f:
    config = RefinerConfig.from_dict(json.load(f))
  checkpoint_path = tf.train.latest_checkpoint(run_dir)
  if not checkpoint_path:
    raise FileNotFoundError(f'No checkpoint in {run_dir}.')
  refiner, _ = tdmi.build(config.model)
  # Every variable of the refiner must come from the checkpoint (the optimizers' need not).
  try:
    tf.train.Checkpoint(refiner=refiner).read(checkpoint_path).expect_partial() \
        .assert_existing_objects_matched()
  except (AssertionError, ValueError) as error:
    raise errors.InputError(f'{checkpoint_path} does not hold the weights of the refiner '
                            f'{CONFIG_NAME} describes ({records.first_line(error, limit=160)}).') from None
  return TrainedRefiner(config, refiner)
