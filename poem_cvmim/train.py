r"""Trains a pose representation on pair records (CV-MIM and the baselines).

  python -m poem_cvmim.train --input_table='out/synthetic/pairs/train-*' \
      --log_dir_path=runs/cvmim --num_iterations=2000

Flags keep the original's names and defaults (`--log_dir_path`, `--input_table`,
`--algorithm_type`, `--fusion_op_type`, ...). A run restarted on the same directory resumes
from its latest checkpoint. Several local devices train with MirroredStrategy; several machines
with MultiWorkerMirroredStrategy when TF_CONFIG names the workers.
"""

import json
import os
import sys

from absl import app
from absl import flags

from poem_cvmim import configs
from poem_cvmim import distribute
from poem_cvmim import trainer as trainer_lib

FLAGS = flags.FLAGS
flags.DEFINE_string('log_dir_path', None, 'Directory for checkpoints, summaries and config.')
flags.DEFINE_string('input_table', None, 'Comma-separated file patterns of pair records.')
flags.DEFINE_string('keypoint_profile_name_2d', 'LEGACY_2DCOCO13', 'Profile of 2D keypoints.')
flags.DEFINE_string('keypoint_profile_name_3d', 'LEGACY_3DH36M17',
                    'Profile of 3D keypoints (Human3.6M and synthetic: LEGACY_3DH36M17; '
                    'NTU: 3DSTD13).')
flags.DEFINE_string('model_input_keypoint_type', '2D_INPUT_AND_3D_PROJECTION',
                    '2D_INPUT, 3D_PROJECTION or 2D_INPUT_AND_3D_PROJECTION.')
flags.DEFINE_string('algorithm_type', 'DISENTANGLE',
                    'DISENTANGLE (CV-MIM), ALIGN, AUTOENCODER, INFOMAX or INFONCE.')
flags.DEFINE_string('fusion_op_type', 'MOE', 'CAT, POE or MOE.')
flags.DEFINE_integer('pose_embedding_dim', 32, 'Width of the pose embedding z_p.')
flags.DEFINE_integer('view_embedding_dim', 32, 'Width of the view embedding z_v.')
flags.DEFINE_string('embedder_type', 'POINT', 'POINT or GAUSSIAN (VAE baselines).')
flags.DEFINE_float('view_loss_weight', 5.0, 'Weight of the cross-view MI loss.')
flags.DEFINE_float('regularization_loss_weight', 1.0, 'Weight of the KL loss (beta).')
flags.DEFINE_float('disentangle_loss_weight', 0.5, 'Weight of CLUB (0: "w/o L_inter").')
flags.DEFINE_boolean('use_prior', True, 'Adversarial uniform prior (False: "w/o L_prior").')
flags.DEFINE_float('dropout_rate', 0.25, 'Dropout of the encoder and critic.')
flags.DEFINE_integer('shuffle_buffer_size', 65536,
                     'Records held for shuffling (the original used 2,097,152).')
flags.DEFINE_float('learning_rate', 2e-2, 'Adagrad learning rate of every player.')
flags.DEFINE_integer('batch_size', 256, 'Global batch size (over all replicas).')
flags.DEFINE_integer('num_iterations', 5000000, 'Training steps (the original default).')
flags.DEFINE_integer('checkpoint_interval', 1000, 'Save a checkpoint every N steps.')
flags.DEFINE_integer('summary_interval', 100, 'Write TensorBoard scalars every N steps.')
flags.DEFINE_integer('seed', None, 'Random seed (None: nondeterministic).')
flags.DEFINE_string('strategy', 'mirrored', 'mirrored, multi_worker or default.')
flags.DEFINE_boolean('jit_compile', False, 'XLA-compile the step (single device only).')
flags.DEFINE_float('peer_timeout_s', 300.0, 'Seconds to wait for the other workers.')
flags.DEFINE_boolean('smoke', False, 'Tiny batch and few steps (a quick check).')

_FLAG_NAMES = ('log_dir_path', 'input_table', 'keypoint_profile_name_2d',
               'keypoint_profile_name_3d', 'model_input_keypoint_type', 'algorithm_type',
               'fusion_op_type', 'pose_embedding_dim', 'view_embedding_dim', 'embedder_type',
               'view_loss_weight', 'regularization_loss_weight', 'disentangle_loss_weight',
               'use_prior', 'dropout_rate', 'shuffle_buffer_size', 'learning_rate',
               'batch_size', 'num_iterations', 'checkpoint_interval', 'summary_interval',
               'seed', 'strategy', 'jit_compile', 'peer_timeout_s', 'smoke')


def config_from_flags(values: dict):
  """A TrainConfig from a dict of this module's flag values."""
  algorithm = configs.AlgorithmConfig(
      algorithm=values['algorithm_type'], pose_embedding_dim=values['pose_embedding_dim'],
      view_embedding_dim=values['view_embedding_dim'], embedder=values['embedder_type'],
      fusion=values['fusion_op_type'], view_loss_weight=values['view_loss_weight'],
      disentangle_loss_weight=values['disentangle_loss_weight'],
      regularization_loss_weight=values['regularization_loss_weight'],
      use_prior=values['use_prior'], dropout_rate=values['dropout_rate'],
      learning_rate=values['learning_rate'])
  common = dict(input_table=values['input_table'], output_dir=values['log_dir_path'],
                algorithm=algorithm, input_type=values['model_input_keypoint_type'],
                profile_2d=values['keypoint_profile_name_2d'],
                profile_3d=values['keypoint_profile_name_3d'], seed=values['seed'],
                strategy=values['strategy'], jit_compile=values['jit_compile'],
                peer_timeout_s=values['peer_timeout_s'])
  if values['smoke']:
    return configs.smoke(**common)
  return configs.TrainConfig(
      batch_size=values['batch_size'], num_steps=values['num_iterations'],
      shuffle_buffer_size=values['shuffle_buffer_size'],
      checkpoint_interval=values['checkpoint_interval'],
      summary_interval=values['summary_interval'], **common)


def main(argv):
  del argv
  if not FLAGS.log_dir_path or not FLAGS.input_table:
    raise app.UsageError('--log_dir_path and --input_table are required.')
  values = {name: FLAGS[name].value for name in _FLAG_NAMES}
  # MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs.
  strategy = distribute.create_strategy(FLAGS.strategy, FLAGS.peer_timeout_s)
  try:
    config = config_from_flags(values)
    trainer = trainer_lib.Trainer(config, strategy)
    os.makedirs(trainer.directory, exist_ok=True)
    with open(os.path.join(trainer.directory, 'flags.json'), 'w') as f:
      json.dump(values, f, indent=2)
    final = trainer.train()
  except (ValueError, FileNotFoundError, trainer_lib.NonFiniteLossError) as error:
    sys.exit(f'error: {error}')
  print(json.dumps({'step': trainer.step, **final}, indent=2))


if __name__ == '__main__':
  app.run(main)
