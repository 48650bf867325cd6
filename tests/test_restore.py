"""A restored or exported network is the trained network: every variable is saved (batch-norm
statistics included), a fresh process restores the same inference outputs, resume keeps them.
"""

import glob
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.action import classifier_configs
from poem_cvmim.action import classifiers
from poem_cvmim.representation.algorithms import base
from poem_cvmim.representation.algorithms import registry
from poem_cvmim.action import classify
from poem_cvmim.representation import configs
from poem_cvmim.representation import export
from poem_cvmim.core import keypoints
from poem_cvmim.representation import pipeline
from poem_cvmim.representation import trainer as trainer_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_QUIET = lambda _: None

ALGORITHM_CONFIGS = {
    'cvmim': configs.AlgorithmConfig(),
    'cvmim_cat_no_prior': configs.AlgorithmConfig(fusion='CAT', use_prior=False),
    'cvmim_no_inter': configs.AlgorithmConfig(disentangle_loss_weight=0.0),
    'align': configs.AlgorithmConfig(algorithm='ALIGN'),
    'autoencoder': configs.AlgorithmConfig(algorithm='AUTOENCODER'),
    'vae': configs.beta_vae(beta=1.0),
    'infomax': configs.AlgorithmConfig(algorithm='INFOMAX'),
    'infonce': configs.AlgorithmConfig(algorithm='INFONCE'),
    'pr_vipe': configs.pr_vipe(),
}


def _variables_by_path(networks: dict) -> dict:
  """Every variable (trainable or not) of every network, keyed by network, position and path
  (Keras numbers unnamed layers and seed generators process-wide: the numbers are dropped)."""
  values = {}
  for name, network in networks.items():
    for index, variable in enumerate(network.variables):
      path = re.sub(r'_\d+(?=/|$)', '', variable.path)
      values[f'{name}:{index}:{path}'] = variable.numpy()
  return values


def _trained(config, steps=2, seed=0):
  algorithm = registry.create_algorithm(config)
  algorithm.build()
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    anchor, positive = rng.normal(scale=0.3, size=(2, 16, 13, 2)).astype(np.float32)
    extra = {}
    if algorithm.needs_3d:
      extra[pipeline.POSES_3D] = rng.normal(scale=0.3, size=(16, 2, 17, 3)).astype(np.float32)
    algorithm.update(base.pair_inputs(anchor, positive, **extra))
  return algorithm


@pytest.mark.parametrize('name', sorted(ALGORITHM_CONFIGS))
def test_checkpoint_holds_every_variable_of_every_network(name, tmp_path):
  config = ALGORITHM_CONFIGS[name]
  trained = _trained(config)
  saved = _variables_by_path(trained.networks())
  moving = [path for path in saved if 'moving_' in path]
  assert moving and all(np.any(saved[p] != (0.0 if p.endswith('mean') else 1.0))
                        for p in moving if 'encoder:' in p), 'training did not move BN'
  path = tf.train.Checkpoint(**trained.checkpoint_items()).write(str(tmp_path / 'ckpt'))

  fresh = registry.create_algorithm(config)
  fresh.build()
  tf.train.Checkpoint(**fresh.checkpoint_items()).read(path).assert_consumed()
  restored = _variables_by_path(fresh.networks())
  assert sorted(restored) == sorted(saved)
  missing = [p for p in saved if not np.array_equal(saved[p], restored[p])]
  assert not missing, f'not restored from the checkpoint: {missing}'


@pytest.mark.parametrize('classifier', classifier_configs.CLASSIFIER_TYPES)
def test_classifier_checkpoint_holds_every_variable(classifier, tmp_path):
  shape = (16, 26) if classifier in ('STGCN', 'HCN') else (16, 8)  # 13 joints x (y, x)
  model = classifiers.get_temporal_classifier(classifier, shape, 3)
  for variable in model.variables:  # batch-norm statistics included
    variable.assign(tf.random.normal(variable.shape))
  saved = _variables_by_path({'model': model})
  def checkpoint(network):  # the layout classifier runs write and restore
    optimizer = keras.optimizers.Adam(use_ema=True)
    optimizer.build(network.trainable_variables)
    return classify._checkpoint(network, optimizer, tf.Variable(0.0), tf.Variable(1.0))  # pylint: disable=protected-access
  path = checkpoint(model).write(str(tmp_path / 'ckpt'))
  fresh = classifiers.get_temporal_classifier(classifier, shape, 3)
  checkpoint(fresh).read(path).assert_consumed()
  restored = _variables_by_path({'model': fresh})
  assert [p for p in saved if not np.array_equal(saved[p], restored[p])] == []


def _held_out_poses(smoke_dir, count=64):
  """Profile-normalised 2D poses of real synthetic detections (not random numbers)."""
  batches = pipeline.pair_dataset(os.path.join(smoke_dir, 'pairs', 'train-*'), count,
                                  keypoints.LEGACY_2DCOCO13, None, shuffle_buffer_size=0,
                                  num_epochs=1)
  inputs, _ = pipeline.make_model_inputs(next(iter(batches)), '2D_INPUT',
                                         keypoints.LEGACY_2DCOCO13, shuffle=False)
  return np.concatenate([inputs[pipeline.ANCHOR],
                         inputs[pipeline.POSITIVE]]).astype(np.float32)


_RESTORE_IN_FRESH_PROCESS = textwrap.dedent('''
    import os, sys
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
    import numpy as np
    import tensorflow as tf
    from poem_cvmim.representation import restore
    algorithm, _, step = restore.load_algorithm(sys.argv[1])
    poses = np.load(sys.argv[2])
    pose, view = algorithm.embed(tf.constant(poses))
    np.save(sys.argv[3], np.concatenate([pose, view], axis=-1))
    saved_model = tf.saved_model.load(sys.argv[4]).signatures['embed_normalized']
    served = saved_model(keypoints=tf.constant(poses))
    np.save(sys.argv[5], np.concatenate([served['pose_embedding'], served['view_embedding']],
                                        axis=-1))
    print('STEP', step)
''')


@pytest.mark.parametrize('name', ['cvmim', 'pr_vipe'])
def test_restored_and_exported_encoders_equal_the_trained_one(smoke_dir, tmp_path, name):
  config = configs.smoke_config(input_table=os.path.join(smoke_dir, 'pairs', 'train-*'),
                         output_dir=str(tmp_path / 'run'), num_steps=50,
                         checkpoint_interval=50, summary_interval=25,
                         algorithm=ALGORITHM_CONFIGS[name])
  trainer = trainer_lib.Trainer(config, log=_QUIET)
  trainer.train()
  encoder = trainer.algorithm.encoder
  moving_mean = [v for v in encoder.non_trainable_variables if v.path.endswith('moving_mean')]
  assert len(moving_mean) == 5 and all(np.abs(v.numpy()).max() > 1e-3 for v in moving_mean)
  export.export_encoder(trainer.algorithm, keypoints.LEGACY_2DCOCO13, str(tmp_path / 'model'))
  poses = _held_out_poses(smoke_dir)
  np.save(tmp_path / 'poses.npy', poses)
  result = subprocess.run(
      [sys.executable, '-c', _RESTORE_IN_FRESH_PROCESS, str(tmp_path / 'run'),
       str(tmp_path / 'poses.npy'), str(tmp_path / 'restored.npy'), str(tmp_path / 'model'),
       str(tmp_path / 'exported.npy')],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'STEP 50' in result.stdout
  pose, view = trainer.algorithm.embed(tf.constant(poses))
  expected = np.concatenate([pose, view], axis=-1)
  # The same float32 operations on the same weights: equal up to round-off.
  scale = np.abs(expected).max()
  for name in ('restored', 'exported'):
    np.testing.assert_allclose(np.load(tmp_path / f'{name}.npy'), expected, rtol=1e-5,
                               atol=1e-6 * scale, err_msg=name)


def test_resume_continues_with_the_saved_batch_norm_statistics(smoke_dir, tmp_path):
  pairs = os.path.join(smoke_dir, 'pairs', 'train-*')
  first = trainer_lib.Trainer(configs.smoke_config(input_table=pairs, output_dir=str(tmp_path),
                                            num_steps=3, checkpoint_interval=3),
                              log=_QUIET)
  first.train()
  saved = _variables_by_path(first.algorithm.networks())
  resumed = trainer_lib.Trainer(configs.smoke_config(input_table=pairs, output_dir=str(tmp_path),
                                              num_steps=5, checkpoint_interval=5),
                                log=_QUIET)
  assert resumed.restore() == 3
  restored = _variables_by_path(resumed.algorithm.networks())
  statistics = [p for p in saved if 'moving_' in p]
  assert len(statistics) >= 10
  for path in saved:
    np.testing.assert_array_equal(restored[path], saved[path], err_msg=path)
  resumed.train()
  assert resumed.step == 5
  assert glob.glob(str(tmp_path / 'ckpt-5*'))
