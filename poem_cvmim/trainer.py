"""The representation trainer (SPEC §9): owns time — the compiled loop, checkpoints,
summaries, progress and failure on NaN — while the algorithm owns the per-replica step.
"""

import dataclasses
import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from poem_cvmim import algorithms
from poem_cvmim import configs
from poem_cvmim import distribute
from poem_cvmim import pipeline

CONFIG_NAME = 'config.json'
# Logged beside the loss terms: of the virtual views used as input in the step, the fraction
# for which the camera guard moved the camera back (poem_cvmim.cameras).
GUARDED_VIEW_FRACTION = 'input/guarded_view_fraction'


class NonFiniteLossError(FloatingPointError):
  """A loss term became NaN or Inf."""


class Trainer:
  """Trains one algorithm on pair records under a distribution strategy."""

  def __init__(self, config: configs.TrainConfig, strategy=None, log=print):
    if not config.output_dir:
      raise ValueError('TrainConfig.output_dir is required.')
    if config.jit_compile and strategy is not None and strategy.num_replicas_in_sync > 1:
      raise ValueError('jit_compile works on a single device only (XLA with MirroredStrategy '
                       f'over {strategy.num_replicas_in_sync} replicas fails).')
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.log = log
    replicas = self.strategy.num_replicas_in_sync
    if config.batch_size % replicas:
      raise ValueError(f'batch_size {config.batch_size} is not divisible by the '
                       f'{replicas} replicas.')
    if config.seed is not None:
      keras.utils.set_random_seed(config.seed)
    with self.strategy.scope():
      self.algorithm = algorithms.create_algorithm(config.algorithm,
                                                   synchronized_batch_norm=replicas > 1)
      self.algorithm.build(num_joints=13)
      self.checkpoint = tf.train.Checkpoint(**self.algorithm.checkpoint_items())
    self.directory = distribute.worker_directory(config.output_dir)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, self.directory, max_to_keep=config.max_checkpoints,
        step_counter=self.step_variable, checkpoint_interval=config.checkpoint_interval)
    self._loop = tf.function(self._loop_fn, jit_compile=False)
    self._step_fn = (tf.function(self.replica_step, jit_compile=True) if config.jit_compile
                     else self.replica_step)

  @property
  def step_variable(self):
    """The global step: the encoder optimizer's iteration count."""
    return self.algorithm.encoder_optimizer.iterations

  @property
  def step(self) -> int:
    return int(self.step_variable.numpy())

  def replica_step(self, batch):
    """Per-replica step: model inputs from parsed records, then one update."""
    c = self.config
    anchor, positive, guarded = pipeline.make_model_inputs(
        batch, c.input_type, c.profile_2d, c.profile_3d, shuffle=c.shuffle_in_step)
    terms = self.algorithm.train_step(anchor, positive)
    terms[GUARDED_VIEW_FRACTION] = guarded
    return terms

  def _loop_fn(self, iterator, num_steps):
    """`num_steps` compiled steps; stops early at a non-finite loss. Returns the last terms."""
    terms = {name: tf.constant(0.0) for name in self.algorithm.term_names}
    terms[GUARDED_VIEW_FRACTION] = tf.constant(0.0)
    for _ in tf.range(num_steps):
      terms = self._reduce(self.strategy.run(self._step_fn, args=(next(iterator),)))
      if not self._all_finite(terms):
        break
    return terms

  def _reduce(self, per_replica):
    # Gathered terms are equal on all replicas; local ones (KL) are averaged: MEAN.
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()}

  @staticmethod
  def _all_finite(terms):
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in terms.values()])

  def dataset(self):
    c = self.config
    profile_3d = None if c.input_type == '2D_INPUT' else c.profile_3d
    return self.strategy.distribute_datasets_from_function(
        lambda context: pipeline.pair_dataset(
            c.input_table, c.batch_size, c.profile_2d, profile_3d, c.shuffle_buffer_size,
            seed=c.seed, input_context=context))

  def restore(self) -> int:
    """Resumes from the latest checkpoint in the directory, if any; returns the step."""
    latest = self.manager.restore_or_initialize()
    if latest:
      self.log(f'[train] resumed from {latest} at step {self.step}')
    return self.step

  def write_config(self, extra=None):
    os.makedirs(self.directory, exist_ok=True)
    data = dataclasses.asdict(self.config)
    data.update(extra or {})
    with open(os.path.join(self.directory, CONFIG_NAME), 'w') as f:
      json.dump(data, f, indent=2)

  def _next_stop(self, step):
    c = self.config
    boundaries = [c.num_steps]
    for interval in (c.summary_interval, c.checkpoint_interval):
      boundaries.append((step // interval + 1) * interval)
    return min(boundaries)

  def train(self) -> dict:
    """Runs to `num_steps`, checkpointing, summarising and showing progress; returns the last
    terms as floats. Raises NonFiniteLossError naming the step and terms."""
    c = self.config
    self.write_config()
    step = self.restore()
    writer = tf.summary.create_file_writer(os.path.join(self.directory, 'train'))
    iterator = iter(self.dataset())
    progress = keras.utils.Progbar(c.num_steps, stateful_metrics=['loss', 'steps/s'])
    progress.update(step)
    values = {}
    while step < c.num_steps:
      start, target = time.time(), self._next_stop(step)
      terms = self._loop(iterator, tf.constant(target - step))
      values = {k: float(v) for k, v in terms.items()}
      previous, step = step, self.step
      bad = sorted(k for k, v in values.items() if not math.isfinite(v))
      if bad:
        raise NonFiniteLossError(f'Non-finite loss at step {step}: ' + ', '.join(
            f'{k}={values[k]}' for k in bad))
      rate = (step - previous) / max(time.time() - start, 1e-9)
      if step % c.summary_interval == 0 or step == c.num_steps:
        self._summarize(writer, step, values, rate)
      self.manager.save(checkpoint_number=step, check_interval=step != c.num_steps)
      progress.update(step, [('loss', values['encoder/total_loss']), ('steps/s', rate)])
    writer.flush()
    return values

  def _summarize(self, writer, step, values, rate):
    with writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(f'train/{name}', value)
      tf.summary.scalar('train/learning_rate', self.config.algorithm.learning_rate)
      tf.summary.scalar('train/steps_per_second', rate)


def read_config(directory: str) -> configs.TrainConfig:
  """The TrainConfig a run wrote beside its checkpoints."""
  path = os.path.join(directory, CONFIG_NAME)
  if not os.path.exists(path):
    raise FileNotFoundError(f'No {CONFIG_NAME} in {directory}: not a training directory.')
  with open(path) as f:
    data = json.load(f)
  fields = {f.name for f in dataclasses.fields(configs.TrainConfig)}
  algorithm = configs.AlgorithmConfig(**data.pop('algorithm'))
  return configs.TrainConfig(algorithm=algorithm,
                             **{k: v for k, v in data.items() if k in fields})


def load_algorithm(directory: str, checkpoint: str = None):
  """Rebuilds a trained algorithm from a run directory (latest or given checkpoint)."""
  config = read_config(directory)
  algorithm = algorithms.create_algorithm(config.algorithm)
  algorithm.build()
  path = checkpoint or tf.train.latest_checkpoint(directory)
  if not path:
    raise FileNotFoundError(f'No checkpoint in {directory}.')
  tf.train.Checkpoint(**algorithm.checkpoint_items()).read(path).expect_partial()
  return algorithm, config, int(np.asarray(algorithm.encoder_optimizer.iterations))
