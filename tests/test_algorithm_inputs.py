"""The algorithms' input: declared features, one dict, and the same losses as before it.

`testdata/loss_reference.json` holds the terms of the first step of every algorithm on one
parsed batch, in float64, computed by `_first_step_terms` with the algorithm API as it was
before the inputs became a dict (commit 5cfa51c: `compute_losses(anchor, positive[,
keypoints_3d])`). The same batch, weights and keys must give the same terms now.
"""

import json
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.representation import configs
from poem_cvmim.representation import pipeline
from poem_cvmim.representation.algorithms import base
from poem_cvmim.representation.algorithms import registry
from tests.test_restore import ALGORITHM_CONFIGS

_REFERENCE = os.path.join(os.path.dirname(__file__), 'testdata', 'loss_reference.json')


def _parsed_batch(rng, size=12):
  sizes = np.tile([[480, 640]], (size, 2, 1)).astype(np.int64)
  points_2d = rng.uniform(0.3, 0.7, size=(size, 2, 13, 2)).astype(np.float32)
  scores = rng.uniform(0.5, 1, size=(size, 2, 13)).astype(np.float32)
  points_3d = rng.normal(scale=300, size=(size, 1, 17, 3)).astype(np.float32) + [0, 0, 3000]
  return {'image_sizes': tf.constant(sizes),
          'keypoints_2d': tf.constant(points_2d.astype(np.float64)),
          'keypoint_scores_2d': tf.constant(scores),
          'keypoints_3d': tf.constant(np.repeat(points_3d, 2, axis=1).astype(np.float64))}


def _first_step_terms(config):
  rng = np.random.default_rng(7)
  keras.utils.set_random_seed(3)  # the auto-encoder's decoder dropout is not keyed by the step
  algorithm = registry.create_algorithm(config)
  algorithm.build()
  algorithm.run_seed.assign(11)
  for network in algorithm.networks().values():
    for variable in network.trainable_variables:
      variable.assign(rng.normal(scale=0.05, size=variable.shape))
  terms = algorithm.train_step(_parsed_batch(rng))
  return {name: float(value.numpy()) for name, value in terms.items()}


@pytest.mark.parametrize('name', sorted(ALGORITHM_CONFIGS))
def test_every_algorithm_gives_the_losses_it_gave_before_the_input_redesign(name, float64):
  with open(_REFERENCE) as f:
    expected = json.load(f)[name]
  config = ALGORITHM_CONFIGS[name]
  if config.algorithm == configs.ALGORITHM_PR_VIPE:  # the reference mined on the means
    config = configs.replace_algorithm(config, mine_on_means=True)
  if config.embedder == configs.EMBEDDER_GAUSSIAN:  # and the VAE's log-variance was TANH
    config = configs.replace_algorithm(config, gaussian_logvar=configs.GAUSSIAN_LOGVAR_TANH)
  terms = _first_step_terms(config)
  assert sorted(terms) == sorted(expected)
  for term, value in expected.items():
    assert terms[term] == pytest.approx(value, rel=1e-9, abs=1e-12), term


def test_algorithms_declare_what_they_read():
  assert registry.create_algorithm(configs.AlgorithmConfig()).features == ()
  assert registry.create_algorithm(configs.pr_vipe()).features == (pipeline.POSES_3D,)
  with pytest.raises(errors.InputError, match="Unknown input features.*'clip'"):
    base.pair_inputs(tf.zeros([2, 13, 2]), tf.zeros([2, 13, 2]), clip=tf.zeros([2]))


def test_every_feature_keeps_its_row_through_the_shuffle():
  rng = np.random.default_rng(0)
  size = 16
  batch = _parsed_batch(rng, size)
  batch = {k: tf.cast(v, tf.float32) if v.dtype == tf.float64 else v for k, v in batch.items()}
  batch['source_id'] = tf.constant([f'clip{i}' for i in range(size)])
  batch['frame_index'] = tf.constant(np.stack([np.arange(size)] * 2, axis=1), tf.int64)
  batch['camera'] = tf.constant([[f'a{i}', f'b{i}'] for i in range(size)])
  unshuffled, _ = pipeline.make_model_inputs(batch, '2D_INPUT', 'LEGACY_2DCOCO13',
                                             'LEGACY_3DH36M17', shuffle=False,
                                             features=pipeline.OPTIONAL_FEATURES, seed=[1, 2])
  shuffled, _ = pipeline.make_model_inputs(batch, '2D_INPUT', 'LEGACY_2DCOCO13',
                                           'LEGACY_3DH36M17', shuffle=True,
                                           features=pipeline.OPTIONAL_FEATURES, seed=[1, 2])
  order = shuffled[pipeline.FRAMES].numpy()
  assert sorted(order) == list(range(size)) and list(order) != list(range(size))
  for name, value in unshuffled.items():
    np.testing.assert_array_equal(shuffled[name].numpy(), value.numpy()[order], err_msg=name)
  ids = unshuffled[pipeline.CLIPS].numpy()
  assert len(set(ids)) == size and ids.dtype == np.int64
  cameras = unshuffled[pipeline.CAMERAS].numpy()
  assert cameras.shape == (size, 2) and len(set(cameras.ravel())) == 2 * size


def test_a_projected_pose_has_no_known_camera():
  rng = np.random.default_rng(1)
  size = 64
  batch = _parsed_batch(rng, size)
  batch = {k: tf.cast(v, tf.float32) if v.dtype == tf.float64 else v for k, v in batch.items()}
  batch['camera'] = tf.constant([['left', 'right']] * size)
  inputs, _ = pipeline.make_model_inputs(batch, '2D_INPUT_AND_3D_PROJECTION', 'LEGACY_2DCOCO13',
                                         'LEGACY_3DH36M17', shuffle=False, seed=[3, 4],
                                         features=(pipeline.CAMERAS,))
  detected, _ = pipeline.make_model_inputs(batch, '2D_INPUT', 'LEGACY_2DCOCO13', shuffle=False,
                                           features=(pipeline.CAMERAS,))
  cameras, known = inputs[pipeline.CAMERAS].numpy(), detected[pipeline.CAMERAS].numpy()
  projected = cameras == pipeline.UNKNOWN_CAMERA
  assert 0.3 < projected.mean() < 0.7  # about half the poses are projections
  np.testing.assert_array_equal(cameras[~projected], known[~projected])
  # The projected poses are exactly those that differ from the detections.
  moved = np.abs(inputs[pipeline.ANCHOR].numpy() - detected[pipeline.ANCHOR].numpy()).max(
      axis=(1, 2)) > 1e-6
  np.testing.assert_array_equal(moved, projected[:, 0])


def test_every_algorithm_name_has_exactly_one_class():
  classes = registry.algorithm_classes()
  assert set(classes) == set(configs.ALGORITHMS)
  for name in configs.ALGORITHMS:
    algorithm = registry.create_algorithm(
        configs.algorithm_config(algorithm=name), pipeline.InputSpec())
    assert type(algorithm).NAME == name and type(algorithm) is classes[name]
  with pytest.raises(ValueError, match='Unknown algorithm'):
    registry.create_algorithm(types.SimpleNamespace(algorithm='NOPE'))


def test_view_alignment_adds_its_term_and_changes_no_other(float64):
  """`alignment_loss_weight` (not in the paper) adds w·mean‖z_p^a − z_p^p‖² to the encoder's
  loss and leaves every term of the original's loss as it was."""
  with open(_REFERENCE) as f:
    expected = json.load(f)['cvmim']
  one = _first_step_terms(configs.algorithm_config(alignment_loss_weight=1.0))
  three = _first_step_terms(configs.algorithm_config(alignment_loss_weight=3.0))
  assert sorted(one) == sorted([*expected, 'encoder/alignment_loss']) == sorted(three)
  assert one['encoder/alignment_loss'] > 0
  assert three['encoder/alignment_loss'] == pytest.approx(3 * one['encoder/alignment_loss'],
                                                          rel=1e-12)
  for term, value in expected.items():
    added = one['encoder/alignment_loss'] if term == 'encoder/total_loss' else 0.0
    assert one[term] == pytest.approx(value + added, rel=1e-9, abs=1e-12), term


def test_alignment_is_the_mean_squared_distance():
  from poem_cvmim.representation.algorithms import disentangle  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  a, p = rng.normal(size=(2, 5, 4))
  expected = np.mean([np.sum((a[i] - p[i]) ** 2) for i in range(5)])
  assert float(disentangle.alignment(tf.constant(a), tf.constant(p))) == pytest.approx(expected)
  with pytest.raises(ValueError, match='alignment_loss_weight applies to DISENTANGLE'):
    configs.pr_vipe(alignment_loss_weight=1.0)
  with pytest.raises(ValueError, match='must be >= 0'):
    configs.algorithm_config(alignment_loss_weight=-1.0)


@pytest.mark.parametrize('on_means', [False, True])
def test_pr_vipe_mines_on_the_distances_its_loss_uses(on_means, monkeypatch, float64):
  """As the original's code: semi-hard negatives are mined on the sample distances of the
  loss (so an active triplet's loss stays below the margin); `mine_on_means` mines on the
  distances between the means."""
  from poem_cvmim.representation import triplet_losses  # pylint: disable=g-import-not-at-top
  seen = {}
  original = triplet_losses.triplet_terms
  def spy(anchor_positive, anchor_match, negatives, margin, **mining):
    seen.update(anchor_match=anchor_match, **mining)
    return original(anchor_positive, anchor_match, negatives, margin, **mining)
  monkeypatch.setattr(triplet_losses, 'triplet_terms', spy)
  _first_step_terms(configs.pr_vipe(mine_on_means=on_means))
  loss_distances = seen['anchor_match'].numpy()
  mined = seen['anchor_match_mining_distances'].numpy()
  np.testing.assert_array_equal(np.diag(mined), seen['anchor_positive_mining_distances'].numpy())
  if on_means:
    assert np.abs(mined - loss_distances).max() > 1e-3
  else:
    np.testing.assert_array_equal(mined, loss_distances)
