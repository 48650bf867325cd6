"""The representation trainer: builds the algorithm under a strategy and hands time to the
shared training loop (`poem_cvmim.core.training_loop`); the algorithm owns the per-replica
step, the loop owns checkpoints, summaries, progress and the stop on a non-finite loss.
"""

import dataclasses
import os

import keras
import tensorflow as tf

from poem_cvmim.core import checkpointing
from poem_cvmim.core import distribute
from poem_cvmim.core import errors
from poem_cvmim.core import random_keys
from poem_cvmim.core import records
from poem_cvmim.core import run_dirs
from poem_cvmim.core import shards
from poem_cvmim.core import training_loop
from poem_cvmim.representation import clip_sampler
from poem_cvmim.representation import configs
from poem_cvmim.representation import pipeline
from poem_cvmim.representation import restore as restore_lib
from poem_cvmim.representation.algorithms import registry


class Trainer:
  """Trains one algorithm on pair records under a distribution strategy."""

  def __init__(self, config: configs.TrainConfig, strategy=None, log=print,
               verbose: bool = True):
    if not config.output_dir:
      raise errors.InputError('TrainConfig.output_dir is required.')
    self.strategy = strategy or tf.distribute.get_strategy()
    replicas = self.strategy.num_replicas_in_sync
    if config.jit_compile and replicas > 1:
      raise errors.InputError('jit_compile works on a single device only (XLA with '
                              f'MirroredStrategy over {replicas} replicas fails).')
    if config.batch_size % replicas:
      raise errors.InputError(f'batch_size {config.batch_size} is not divisible by the '
                              f'{replicas} replicas.')
    self.config, self.log, self.verbose = config, log, verbose
    if config.seed is not None:
      # The networks' initial weights come from Keras's global random state: seed it from this
      # run's seed, so that an encoder does not depend on what ran before it in the process
      # (a table plan trains encoders between classifier runs that seed it their own way).
      keras.utils.set_random_seed(config.seed)
    with self.strategy.scope():
      self.algorithm = registry.create_algorithm(
          config.algorithm, self._input_spec(), synchronized_batch_norm=replicas > 1)
      self.algorithm.build()
      self.algorithm.run_seed.assign(
          config.seed if config.seed is not None else random_keys.new_run_seed())
      self.checkpoint = tf.train.Checkpoint(**self.algorithm.checkpoint_items())
    self.directory = distribute.worker_directory(config.output_dir, self.strategy)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, self.directory, max_to_keep=config.max_checkpoints,
        step_counter=self.step_variable)
    self._loop = tf.function(self._loop_fn, jit_compile=False)
    self._step_fn = (tf.function(self.algorithm.train_step, jit_compile=True)
                     if config.jit_compile else self.algorithm.train_step)

  @property
  def step_variable(self):
    """The global step: the encoder optimizer's iteration count."""
    return self.algorithm.encoder_optimizer.iterations

  @property
  def step(self) -> int:
    return int(self.step_variable.numpy())

  def _loop_fn(self, iterator, num_steps):
    """`num_steps` compiled steps; stops early at a non-finite loss. Returns the last terms."""
    terms = {name: tf.constant(0.0) for name in self.algorithm.term_names}
    for _ in tf.range(num_steps):
      terms = self._reduce(self.strategy.run(self._step_fn, args=(next(iterator),)))
      if not tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in terms.values()]):
        break
    return terms

  def _reduce(self, per_replica):
    # Gathered terms are equal on all replicas; local ones (KL, input statistics) are
    # averaged: MEAN.
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()}

  def _input_spec(self) -> pipeline.InputSpec:
    """How model inputs are made; 2D-only input from records without 3D poses has no 3D
    profile (what the periodic guard of temporal negatives then compares is 2D)."""
    spec = pipeline.InputSpec.from_config(self.config)
    c = self.config
    if (c.input_type == pipeline.INPUT_2D and c.profile_3d and c.input_table
        and c.algorithm.algorithm not in configs.ALGORITHMS_NEEDING_3D):
      first = records.expand_patterns(c.input_table)[0]
      spec_3d = records.instance_feature_spec(records.NUM_PAIR_INSTANCES, c.profile_2d,
                                              c.profile_3d)
      if records.missing_keys(first, spec_3d):
        spec = dataclasses.replace(spec, profile_3d=None)
    return spec

  def dataset(self):
    c = self.config
    profile_3d = self.algorithm.inputs.profile_3d if self._reads_3d() else None
    if c.instants_per_clip:
      return self.strategy.distribute_datasets_from_function(
          lambda context: clip_sampler.clip_dataset(
              c.input_table, c.batch_size, c.instants_per_clip, c.algorithm.mining.negative_gap,
              c.profile_2d, profile_3d, seed=c.seed, input_context=context,
              start_step=self.step, log=self.log))
    # Records one by one; a loss that reads the clip (Pr-VIPE's partial 3D) gets the metadata.
    return self.strategy.distribute_datasets_from_function(
        lambda context: pipeline.pair_dataset(
            c.input_table, c.batch_size, c.profile_2d, profile_3d, c.shuffle_buffer_size,
            seed=c.seed, input_context=context, start_step=self.step,
            with_metadata=self.algorithm.needs_metadata))

  def restore(self) -> int:
    """Resumes from the newest readable checkpoint in the directory, if any (a corrupt newest
    one falls back to the previous with a warning); returns the step."""
    latest = checkpointing.restore_latest_intact(self.checkpoint, self.directory, self.log)
    if latest:
      self.log(f'[train] resumed from {latest} at step {self.step}')
    elif self.config.init_from:
      source = restore_lib.initialize_networks(self.algorithm, self.config.init_from)
      self.log(f'[train] networks initialised from {source}')
    return self.step

  def _reads_3d(self) -> bool:
    return self.config.input_type != pipeline.INPUT_2D or self.algorithm.needs_3d

  def check_records(self) -> None:
    """Raises ValueError naming the keys the first input record lacks (before anything is
    written): the 2D pairs, and the 3D poses when the input type or the algorithm reads them."""
    c = self.config
    first = records.expand_patterns(c.input_table)[0]
    spec = records.instance_feature_spec(records.NUM_PAIR_INSTANCES, c.profile_2d)
    records.check_first_record(first, spec)
    if self._reads_3d():
      spec_3d = records.instance_feature_spec(records.NUM_PAIR_INSTANCES, c.profile_2d,
                                              c.profile_3d)
      why = (f'{c.algorithm.algorithm} mines its negatives from them; use pair records with '
             '3D poses' if self.algorithm.needs_3d else
             f'input type {c.input_type} projects them; use pair records with 3D poses or '
             f'--model_input_keypoint_type={pipeline.INPUT_2D}')
      records.check_first_record(first, {k: v for k, v in spec_3d.items() if k not in spec},
                                 f'(the {c.profile_3d} 3D poses: {why})')
    if c.instants_per_clip:
      records.check_first_record(
          first, records.pair_metadata_spec(),
          "(clip-grouped batches and temporal negatives read each pair's clip, frame index "
          'and cameras; write them with the converters or data_prep.detections)')

  def identity(self) -> dict:
    """The data this run consumes: each record directory's path and manifest hash."""
    directories = sorted({os.path.dirname(os.path.abspath(f))
                          for f in records.expand_patterns(self.config.input_table)})
    return {'kind': 'representation_run',
            'data': [run_dirs.dataset_identity(d) for d in directories]}

  def verify_data(self, hashes: bool = False) -> None:
    """Every input file must be listed in its directory's manifest (where there is one) and,
    with `hashes`, have the listed SHA-256 (a full read of the data)."""
    by_directory = {}
    for path in records.expand_patterns(self.config.input_table):
      by_directory.setdefault(os.path.dirname(os.path.abspath(path)), []).append(path)
    for directory, files in by_directory.items():
      if os.path.exists(os.path.join(directory, shards.MANIFEST_NAME)):
        shards.verify_shards(directory, files, check_hashes=hashes)

  def train(self, on_start=None, verify_hashes: bool = False) -> dict:
    """Runs to `num_steps`; returns the last terms as floats.

    Holds the run directory's lock; refuses a directory that holds a run made with another
    model, algorithm or data before writing anything; then writes config.json (and calls
    `on_start(directory)`). Input files must be listed in their manifests; `verify_hashes`
    also checks their SHA-256 (reads all the data once). Raises `training_loop.NonFiniteLossError` naming the step and
    terms, and ValueError naming a corrupt input file.
    """
    c = self.config
    self.check_records()
    self.verify_data(verify_hashes)
    with run_dirs.DirectoryLock(self.directory):
      restore_lib.check_restart(self.directory, c)
      trained = tf.train.latest_checkpoint(self.directory)
      if trained and run_dirs.read_identity(self.directory) is None:
        run_dirs.write_identity(self.directory, self.identity())  # a run of an older version
      # Nothing trained yet: whatever an earlier attempt left is replaced.
      run_dirs.check_identity(self.directory, self.identity(), overwrite=not trained,
                              what='training run',
                              remedy='Use another --log_dir_path, or the data it was trained on.')
      restore_lib.write_config(self.directory, c)
      if on_start is not None:
        on_start(self.directory)
      self.restore()
      try:
        return self._run()
      except training_loop.NonFiniteLossError as error:
        where = records.first_non_finite_pair(c.input_table, c.profile_2d, c.profile_3d)
        if where is None:
          raise  # the data are finite: the training diverged
        raise errors.InputError(f'{error}: the input holds NaN or Inf ({where}); convert or '
                                'generate the records again.') from None
      except tf.errors.DataLossError as error:
        raise errors.InputError(records.describe_corrupt_input(c.input_table, error)) from None
      except distribute.PEER_ERRORS as error:
        tf_config = distribute.cluster_from_env()
        if distribute.num_workers(tf_config) < 2:
          raise
        raise errors.StateError(distribute.describe_lost_peer(
            error, tf_config, self.step, c.peer_timeout_s)) from None

  def _run(self) -> dict:
    """Trains from the restored step to `num_steps` through the shared loop."""
    c = self.config
    iterator = iter(self.dataset())
    controller = training_loop.Controller(
        run=lambda num_steps: self._loop(iterator, num_steps), step=lambda: self.step,
        cadence=training_loop.Cadence(c.num_steps, c.checkpoint_interval, c.summary_interval),
        checkpoint_manager=self.manager, summary_dir=os.path.join(self.directory, 'train'),
        extra_summaries={'learning_rate': c.algorithm.learning_rate},
        progress_term='encoder/total_loss', verbose=self.verbose)
    return controller.train()
