"""Camera augmentation against an independent NumPy implementation, and its guard."""

import glob
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.core import cameras
from poem_cvmim.core import keypoints
from poem_cvmim.core import records


def _numpy_rotation(a, e, r):
  """Rz(a) @ Ry(e) @ Rx(r) from the textbook elementary rotations."""
  rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
  ry = np.array([[math.cos(e), 0, math.sin(e)], [0, 1, 0], [-math.sin(e), 0, math.cos(e)]])
  rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
  return rz @ ry @ rx


def _numpy_project(points_yxz, a, e, r, depth):
  """Steps 3-5 of the projection (docs/cameras.md) written out point by point."""
  out = []
  for y, x, z in points_yxz:
    xr, yr, zr = _numpy_rotation(a, e, r) @ np.array([x, y, z])
    q = np.array([-zr, -yr, xr + depth])
    out.append(q[:2] / max(q[2], 1e-12))
  return np.array(out)


def test_rotation_check_of_the_spec():
  matrix = cameras.create_rotation_matrices_3d(
      tf.constant(math.pi / 2), tf.constant(-math.pi / 2), tf.constant(math.pi))
  np.testing.assert_allclose(matrix.numpy(), [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-6)


def test_rotation_matrices_match_elementary_rotations_and_are_orthonormal():
  rng = np.random.default_rng(0)
  angles = rng.uniform(-3, 3, size=(3, 5))
  matrices = cameras.create_rotation_matrices_3d(*[tf.constant(a) for a in angles]).numpy()
  assert matrices.shape == (5, 3, 3)
  for i in range(5):
    np.testing.assert_allclose(matrices[i], _numpy_rotation(*angles[:, i]), atol=1e-12)
    np.testing.assert_allclose(matrices[i] @ matrices[i].T, np.eye(3), atol=1e-12)


def test_projection_matches_independent_numpy():
  rng = np.random.default_rng(1)
  points = rng.normal(scale=0.4, size=(4, 13, 3))
  angles = rng.uniform(-0.5, 0.5, size=(3, 4))
  depths = np.array([2.0, 2.5, 3.0, 2.0])
  projected = cameras.project_3d_to_2d(tf.constant(points), *angles, camera_depth=depths)
  for i in range(4):
    np.testing.assert_allclose(projected.numpy()[i],
                               _numpy_project(points[i], *angles[:, i], depths[i]), atol=1e-9)


def test_identity_view_is_not_mirrored():
  # With no rotation the camera looks along +x from x = -2 with z up, so its right is -y: a
  # point at +y (the right hand of a subject facing the camera) appears on the image's left,
  # as in a photograph, and z up appears above the centre.
  point = np.array([[[1.0, 0.0, 1.0]]])  # (y, x, z)
  projected = cameras.project_3d_to_2d(point, [0.0], [0.0], [0.0]).numpy()
  np.testing.assert_allclose(projected, [[[-0.5, -0.5]]])


def test_random_projection_shapes_ranges_and_zero_range():
  profile_3d = keypoints.get_profile('LEGACY_3DH36M17')
  rng = np.random.default_rng(2)
  poses = rng.normal(size=(6, 2, 17, 3)).astype(np.float32)
  projected = cameras.random_project_and_select(poses, profile_3d, 'LEGACY_2DCOCO13', seed=3)
  assert projected.shape == (6, 2, 13, 2)
  fixed = cameras.random_project_and_select(
      poses, profile_3d, 'LEGACY_2DCOCO13', azimuth_range=(0.3, 0.3),
      elevation_range=(0.1, 0.1), roll_range=(0.0, 0.0), camera_depth_range=(2.0, 2.0))
  normalized, _, _ = profile_3d.normalize(poses)
  selected = normalized[..., keypoints.H36M17_TO_COCO13, :]
  for i in range(6):
    for k in range(2):
      np.testing.assert_allclose(fixed.numpy()[i, k],
                                 _numpy_project(selected[i, k], 0.3, 0.1, 0.0, 2.0),
                                 rtol=1e-4, atol=1e-5)


def test_input_types():
  profile_2d = keypoints.get_profile('LEGACY_2DCOCO13')
  rng = np.random.default_rng(4)
  detected = rng.uniform(100, 900, size=(400, 13, 2)).astype(np.float32)
  poses_3d = rng.normal(size=(400, 17, 3)).astype(np.float32)
  only_2d = cameras.create_model_input(detected, None, '2D_INPUT', profile_2d)
  np.testing.assert_allclose(only_2d.numpy(), profile_2d.normalize(detected)[0], rtol=1e-5)
  mixed = cameras.create_model_input(detected, poses_3d, '2D_INPUT_AND_3D_PROJECTION',
                                     profile_2d, 'LEGACY_3DH36M17', seed=5).numpy()
  is_detected = np.all(np.isclose(mixed, only_2d.numpy(), atol=1e-5), axis=(-2, -1))
  # Mixed poses are either the detection or a (normalised) projection: the latter has its
  # hip centre at the origin and scale 0.5 as well, so check it is not the detection.
  assert 0.4 < is_detected.mean() < 0.6
  np.testing.assert_allclose(profile_2d.scale(mixed), 0.5, rtol=1e-4)
  with pytest.raises(ValueError, match='2D_INPUT_AND_3D_PROJECTION'):
    cameras.create_model_input(detected, None, 'BOTH', profile_2d)
  with pytest.raises(ValueError, match='needs 3D'):
    cameras.create_model_input(detected, None, '3D_PROJECTION', profile_2d)


def _synthetic_poses_3d(smoke_dir, count, seed):
  """`count` 3D poses drawn from the synthetic pair records."""
  files = sorted(glob.glob(os.path.join(smoke_dir, 'pairs', 'train-*')))
  parsed = next(iter(tf.data.TFRecordDataset(files).batch(100000).map(
      lambda s: records.parse_pair_example(s, 'LEGACY_2DCOCO13', 'LEGACY_3DH36M17'))))
  poses = tf.reshape(parsed[records.KEYPOINTS_3D], [-1, 17, 3])
  return tf.gather(poses, np.random.default_rng(seed).integers(0, poses.shape[0], count))


# Largest |normalised 2D coordinate| a guarded virtual view may produce. Measured: 2.9 over
# 10,000 views of the synthetic poses (without the guard: 6e11, and 0.3 % of views above 5).
_GUARDED_COORDINATE_BOUND = 4.0


def test_guarded_random_views_are_finite_and_bounded(smoke_dir):
  poses = _synthetic_poses_3d(smoke_dir, 10000, seed=0)
  # A stateless key: both calls below draw the very same cameras, whatever ran before in this
  # process (an int op seed draws differently on a second call, and with the process history).
  key = tf.constant([1, 0], tf.int64)
  projected, guarded = cameras.random_project_and_select(
      poses, 'LEGACY_3DH36M17', 'LEGACY_2DCOCO13', seed=key, return_guarded=True)
  profile = keypoints.get_profile('LEGACY_2DCOCO13')
  normalized = profile.normalize(projected)[0].numpy()
  guarded = guarded.numpy()
  assert np.all(np.isfinite(normalized))
  assert np.abs(normalized).max() <= _GUARDED_COORDINATE_BOUND
  assert 0.0 < guarded.mean() < 0.1  # the guard acts, on few views
  # The same views without the guard: identical where the guard did not act, and what it
  # prevents where it did.
  unguarded = cameras.random_project_and_select(
      poses, 'LEGACY_3DH36M17', 'LEGACY_2DCOCO13', seed=key, min_joint_depth_fraction=0.0)
  unguarded = profile.normalize(unguarded)[0].numpy()
  np.testing.assert_allclose(unguarded[~guarded], normalized[~guarded], rtol=1e-5, atol=1e-6)
  assert np.abs(unguarded[guarded]).max() > 100.0


def test_guard_moves_the_camera_only_for_poses_reaching_towards_it():
  # Two joints on the camera axis (x' towards the camera is negative): at x = -0.1 nothing
  # changes; at x = -1.9 (0.1 from a camera at depth 2) the camera moves back to 1.9 + 0.5.
  depth, guarded = cameras.guarded_camera_depth(tf.constant([[0.0, -0.1], [0.0, -1.9]]), 2.0)
  np.testing.assert_allclose(depth.numpy(), [2.0, 2.4])
  np.testing.assert_array_equal(guarded.numpy(), [False, True])
  point = np.array([[[0.5, -1.9, 0.0], [0.0, 0.0, 0.0]]])  # (y, x, z): x' = -1.9
  projected = cameras.project_3d_to_2d(point, [0.0], [0.0], [0.0]).numpy()
  np.testing.assert_allclose(projected[0, 0], [0.0, -0.5 / 0.5], rtol=1e-6)


def test_the_guard_and_depth_range_are_set_from_the_run_config(smoke_dir):
  """`--min_joint_depth_fraction` and `--camera_depth_min/max` reach the virtual cameras of the
  training inputs: 0 gives the original's unguarded projection."""
  from poem_cvmim.representation import configs  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import pipeline  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation.algorithms import registry  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(os.path.join(smoke_dir, 'pairs', 'train-*')))
  batch = next(iter(tf.data.TFRecordDataset(files).batch(100000).map(
      lambda s: records.parse_pair_example(s, 'LEGACY_2DCOCO13', 'LEGACY_3DH36M17'))))
  batch = {k: tf.tile(v, [40] + [1] * (v.shape.rank - 1)) for k, v in batch.items()}

  def largest(**fields):
    config = configs.smoke_config(input_type='3D_PROJECTION', **fields)
    spec = pipeline.InputSpec.from_config(config)
    assert spec.camera_depth_range == (config.camera_depth_min, config.camera_depth_max)
    algorithm = registry.create_algorithm(config.algorithm, spec)
    algorithm.run_seed.assign(5)
    inputs, statistics = algorithm.preprocess(batch)
    both = tf.stack([inputs[pipeline.ANCHOR], inputs[pipeline.POSITIVE]])
    return float(tf.reduce_max(tf.abs(both))), float(
        statistics[pipeline.GUARDED_VIEW_FRACTION])

  guarded, fraction = largest()
  assert guarded <= _GUARDED_COORDINATE_BOUND and fraction > 0
  unguarded, _ = largest(min_joint_depth_fraction=0.0)
  assert unguarded > 100.0
  # A farther camera magnifies less: with depths 4-6 the guard acts on fewer views.
  _, far_fraction = largest(camera_depth_min=4.0, camera_depth_max=6.0)
  assert far_fraction < largest()[1]
  with pytest.raises(ValueError, match='camera_depth_min <= camera_depth_max'):
    configs.smoke_config(camera_depth_min=3.0, camera_depth_max=2.0)
  with pytest.raises(ValueError, match=r'min_joint_depth_fraction must be in \[0, 1\)'):
    configs.smoke_config(min_joint_depth_fraction=1.0)
