"""Keypoint profiles: normalisation by hand, idempotence, NumPy/TF parity, errors."""

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.core import keypoints


def _random_pose(profile, shape=(), seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=shape + (profile.keypoint_num, profile.keypoint_dim))


def test_coco13_normalisation_by_hand():
  profile = keypoints.get_profile('LEGACY_2DCOCO13')
  points = np.zeros((13, 2))
  # (y, x): shoulders at y=0, x=+-1; hips at y=3, x=+-1 (left/right as in the profile order).
  points[1], points[2] = [0.0, 1.0], [0.0, -1.0]
  points[7], points[8] = [3.0, 1.0], [3.0, -1.0]
  points[0] = [-1.0, 0.0]
  normalized, offset, scale = profile.normalize(points)
  # Offset = mean of hips = (3, 0). Largest of the six distances: a shoulder to the opposite
  # hip, sqrt(3^2 + 2^2) = sqrt(13). Unit 0.5.
  np.testing.assert_allclose(offset, [[3.0, 0.0]])
  np.testing.assert_allclose(scale, [[np.sqrt(13.0)]])
  np.testing.assert_allclose(normalized[0], (np.array([-1.0, 0.0]) - [3.0, 0.0])
                             / np.sqrt(13.0) * 0.5)
  np.testing.assert_allclose(normalized[7], [0.0, 1.0 / np.sqrt(13.0) * 0.5])


def test_h36m17_normalisation_by_hand():
  profile = keypoints.get_profile('LEGACY_3DH36M17')
  points = np.ones((17, 3))
  names = profile.keypoint_names
  points[names.index('Hip')] = [0.0, 0.0, 0.0]
  points[names.index('Spine')] = [0.0, 0.0, 2.0]
  points[names.index('Thorax')] = [0.0, 3.0, 2.0]
  normalized, offset, scale = profile.normalize(points)
  np.testing.assert_allclose(offset, [[0.0, 0.0, 0.0]])
  np.testing.assert_allclose(scale, [[5.0]])  # |Hip - Spine| + |Spine - Thorax| = 2 + 3
  np.testing.assert_allclose(normalized[names.index('Thorax')], [0.0, 0.6, 0.4])


def test_std13_scale_is_shoulder_centre_to_hip_centre():
  profile = keypoints.get_profile('3DSTD13')
  points = _random_pose(profile, seed=3)
  _, _, scale = profile.normalize(points)
  expected = np.linalg.norm(points[[1, 2]].mean(0) - points[[7, 8]].mean(0))
  np.testing.assert_allclose(scale, [[expected]])


@pytest.mark.parametrize('name', keypoints.PROFILE_NAMES)
def test_normalising_twice_equals_once(name):
  profile = keypoints.get_profile(name)
  points = _random_pose(profile, shape=(4, 3), seed=1) * 7.0 + 2.0
  once, _, _ = profile.normalize(points)
  twice, offset, scale = profile.normalize(once)
  np.testing.assert_allclose(twice, once, atol=1e-9)
  np.testing.assert_allclose(offset, 0.0, atol=1e-9)
  np.testing.assert_allclose(scale, profile.scale_unit, rtol=1e-9)
  # Shapes for any leading shape.
  assert once.shape == points.shape and offset.shape == (4, 3, 1, profile.keypoint_dim)
  assert scale.shape == (4, 3, 1, 1)


@pytest.mark.parametrize('name', keypoints.PROFILE_NAMES)
def test_tensorflow_matches_numpy_in_function_and_dataset(name):
  profile = keypoints.get_profile(name)
  points = _random_pose(profile, shape=(5,), seed=2).astype(np.float32)
  expected, _, _ = profile.normalize(points)
  in_function = tf.function(lambda x: profile.normalize(x)[0])(tf.constant(points))
  np.testing.assert_allclose(in_function.numpy(), expected, rtol=1e-5, atol=1e-6)
  dataset = tf.data.Dataset.from_tensor_slices(points).map(lambda x: profile.normalize(x)[0])
  np.testing.assert_allclose(np.stack(list(dataset.as_numpy_iterator())), expected,
                             rtol=1e-5, atol=1e-6)


def test_denormalize_inverts_normalize():
  profile = keypoints.get_profile('LEGACY_2DCOCO13')
  points = _random_pose(profile, shape=(2,), seed=4)
  normalized, offset, scale = profile.normalize(points)
  np.testing.assert_allclose(profile.denormalize(normalized, offset, scale), points)


def test_degenerate_pose_gives_no_nan():
  profile = keypoints.get_profile('LEGACY_2DCOCO13')
  normalized, _, _ = profile.normalize(np.zeros((13, 2)))
  assert np.all(np.isfinite(normalized))


def test_unknown_profile_lists_valid_names():
  with pytest.raises(ValueError) as error:
    keypoints.get_profile('COCO17')
  for name in keypoints.PROFILE_NAMES:
    assert name in str(error.value)


def test_index_maps_select_the_named_joints():
  h36m17 = keypoints.get_profile('LEGACY_3DH36M17')
  coco13 = keypoints.get_profile('LEGACY_2DCOCO13')
  assert coco13.compatible_indices('LEGACY_3DH36M17') == list(keypoints.H36M17_TO_COCO13)
  assert [h36m17.keypoint_names[i] for i in keypoints.H36M17_TO_COCO13][:3] == [
      'Head', 'LShoulder', 'RShoulder']
  assert coco13.compatible_indices('3DSTD13') == list(range(13))
  for index_map, size in ((keypoints.H36M32_TO_H36M17, 32), (keypoints.COCO17_TO_COCO13, 17),
                          (keypoints.NTU25_TO_COCO13, 25), (keypoints.PENN13_TO_COCO13, 13)):
    assert len(set(index_map)) == len(index_map) and max(index_map) < size
  # NTU-25: 3 head, 4/8 shoulders, 12/16 hips, 14/18 ankles (0-based Kinect v2 joints).
  assert keypoints.NTU25_TO_COCO13[:3] == (3, 4, 8)
  assert len(keypoints.H36M32_TO_H36M17) == 17 and len(keypoints.NTU25_TO_COCO13) == 13
  with pytest.raises(ValueError, match='LEGACY_3DH36M17'):
    coco13.compatible_indices('LEGACY_2DH36M13')
