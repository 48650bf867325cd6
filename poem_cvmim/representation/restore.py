"""Restoring trained networks: the only way any command gets a trained encoder.

A run directory holds `config.json` (the resolved TrainConfig) and checkpoints `ckpt-N` with
every variable of every network (batch-norm statistics included), every optimizer and the step.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

from poem_cvmim.core import checkpointing
from poem_cvmim.core import errors
from poem_cvmim.representation import config_files
from poem_cvmim.representation import configs
from poem_cvmim.representation import pipeline
from poem_cvmim.representation.algorithms import registry

CONFIG_NAME = 'config.json'


def read_config(directory: str) -> configs.TrainConfig:
  """The TrainConfig a run wrote beside its checkpoints."""
  path = os.path.join(directory, CONFIG_NAME)
  if not os.path.exists(path):
    raise FileNotFoundError(f'No {CONFIG_NAME} in {directory}: not a training directory.')
  with open(path) as f:
    data = json.load(f)
  return config_files.from_dict(data, path)


def write_config(directory: str, config: configs.TrainConfig) -> None:
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, CONFIG_NAME), 'w') as f:
    json.dump(config_files.to_dict(config), f, indent=2)


def check_restart(directory: str, config: configs.TrainConfig) -> None:
  """Refuses to continue a run with a configuration that changes its model, algorithm or
  data; only the schedule (steps, intervals, strategy) may change. Nothing is written."""
  if not tf.train.latest_checkpoint(directory):
    return
  differences = config_files.differing_fields(read_config(directory), config)
  if differences:
    raise errors.InputError(f'{directory} holds a run trained with other settings; refusing to '
                            f'continue it with: {"; ".join(differences)}. Use another '
                            '--log_dir_path (or the same flags).')


def _warn(message: str) -> None:
  print(message, file=sys.stderr, flush=True)


def load_algorithm(directory: str, checkpoint: str = None):
  """Rebuilds a trained algorithm from a run directory (latest or given checkpoint)."""
  config = read_config(directory)
  algorithm = registry.create_algorithm(config.algorithm, pipeline.InputSpec.from_config(config))
  algorithm.build()
  saved = tf.train.Checkpoint(**algorithm.checkpoint_items())
  if checkpoint:
    saved.read(checkpoint).expect_partial()
  elif not checkpointing.restore_latest_intact(saved, directory, _warn, partial=True):
    raise FileNotFoundError(f'No checkpoint in {directory}: train first (python -m '
                            'poem_cvmim.train).')
  return algorithm, config, int(np.asarray(algorithm.encoder_optimizer.iterations))


# What shapes the networks: a run initialised from another must agree on these.
_ARCHITECTURE_FIELDS = ('algorithm.algorithm', 'algorithm.pose_embedding_dim',
                        'algorithm.view_embedding_dim', 'algorithm.embedder', 'algorithm.fusion',
                        'algorithm.use_prior', 'profile_2d')


def initialize_networks(algorithm, source: str) -> str:
  """Sets every network of a built `algorithm` from the latest checkpoint of the run directory
  `source` (optimizers, step and random states are left as they are: a fine-tuning starts
  afresh). Returns the checkpoint read; a run of another architecture is refused, naming the
  fields."""
  config = read_config(source)
  mine = algorithm.config
  def fields(algorithm_config, profile_2d):
    return {path: profile_2d if path == 'profile_2d'
                  else getattr(algorithm_config, path.split('.', 1)[1])
            for path in _ARCHITECTURE_FIELDS}
  there = fields(config.algorithm, config.profile_2d)
  here = fields(mine, algorithm.inputs.profile_2d)
  differences = [f'{path}: {there[path]!r} there, {here[path]!r} here'
                 for path in _ARCHITECTURE_FIELDS if there[path] != here[path]]
  if (config.algorithm.disentangle_loss_weight > 0) != (mine.disentangle_loss_weight > 0):
    differences.append('algorithm.disentangle_loss_weight: one run has the CLUB estimators')
  if differences:
    raise errors.InputError(f'--init_from={source} holds another architecture: '
                            f'{"; ".join(differences)}.')
  path = tf.train.latest_checkpoint(source)
  if not path:
    raise FileNotFoundError(f'No checkpoint in {source}: train it first.')
  tf.train.Checkpoint(**algorithm.networks()).read(path).expect_partial()
  return path
