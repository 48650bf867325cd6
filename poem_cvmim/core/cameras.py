"""Camera augmentation: random virtual views of 3D poses and input mixing.

Points are (y, x, z) in 3D and (y, x) in 2D (docs/conventions.md). The rotation matrices act on points
laid out (x, y, z); `rotate_points` swaps in and out of that layout. The 3D frame has z up and
the virtual camera, at distance `camera_depth`, looks along +x, so image y = -z'/depth and image
x = -y'/depth: the projection is not mirrored (the corrected version of the original).

Guard (a deliberate deviation from the original): a random rotation can bring a limb towards
the camera until it reaches, or passes, the camera centre; the original then divides by
max(depth, 1e-12) and feeds coordinates up to ~1e11 into training. Here the camera is moved
back along its axis, for that pose only, until every joint is at least
`MIN_JOINT_DEPTH_FRACTION` of the nominal camera depth in front of it (docs/cameras.md).
"""

import math

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import random_keys

tf = lazy_tensorflow.deferred

# Smallest depth the pinhole projection divides by (step 5 of the projection).
DEPTH_EPSILON = 1e-12
# Default camera depth: 1 / the 2D profile's scale unit 0.5, with the 3D scale unit 1.0.
DEFAULT_CAMERA_DEPTH = 2.0
DEFAULT_AZIMUTH_RANGE = (-math.pi, math.pi)
DEFAULT_ELEVATION_RANGE = (-math.pi / 6.0, math.pi / 6.0)
DEFAULT_ROLL_RANGE = (-math.pi / 6.0, math.pi / 6.0)
DEFAULT_CAMERA_DEPTH_RANGE = (DEFAULT_CAMERA_DEPTH, DEFAULT_CAMERA_DEPTH)
# Every joint is kept at least this fraction of the nominal camera depth in front of the
# camera, so no joint is magnified more than 1 / 0.25 = 4x relative to the hip (at the nominal
# depth). Measured on the synthetic poses: the guard moves the camera for 3.4 % of random
# views, and the largest normalised 2D coordinate of 10,000 views drops from 6e11 to 2.9.
# 0 turns the guard off (the original's behaviour).
MIN_JOINT_DEPTH_FRACTION = 0.25

# Model input types (the original's names).
INPUT_2D = '2D_INPUT'
INPUT_3D_PROJECTION = '3D_PROJECTION'
INPUT_2D_AND_3D_PROJECTION = '2D_INPUT_AND_3D_PROJECTION'
INPUT_TYPES = (INPUT_2D, INPUT_3D_PROJECTION, INPUT_2D_AND_3D_PROJECTION)
# Probability of keeping the detected 2D pose when mixing (u >= 0.5 keeps it).
MIX_THRESHOLD = 0.5


def create_rotation_matrices_3d(azimuths, elevations, rolls):
  """Rotation matrices M = Rz(a) Ry(e) Rx(r) for points laid out (x, y, z).

  Args:
    azimuths, elevations, rolls: Angles in radians, same shape [...].

  Returns:
    Matrices of shape [..., 3, 3].
  """
  azimuths = tf.convert_to_tensor(azimuths)
  elevations = tf.cast(elevations, azimuths.dtype)
  rolls = tf.cast(rolls, azimuths.dtype)
  ca, sa = tf.cos(azimuths), tf.sin(azimuths)
  ce, se = tf.cos(elevations), tf.sin(elevations)
  cr, sr = tf.cos(rolls), tf.sin(rolls)
  rows = [
      [ca * ce, ca * se * sr - sa * cr, ca * se * cr + sa * sr],
      [sa * ce, sa * se * sr + ca * cr, sa * se * cr - ca * sr],
      [-se, ce * sr, ce * cr],
  ]
  return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)


def rotate_points(points_yxz, matrices):
  """Rotates (y, x, z) points [..., J, 3] by matrices [..., 3, 3] built for (x, y, z)."""
  points_xyz = tf.gather(points_yxz, [1, 0, 2], axis=-1)
  rotated_xyz = tf.linalg.matmul(points_xyz, matrices, transpose_b=True)
  return tf.gather(rotated_xyz, [1, 0, 2], axis=-1)


def guarded_camera_depth(rotated_x, camera_depth,
                         min_joint_depth_fraction=MIN_JOINT_DEPTH_FRACTION):
  """The camera depth that keeps every joint in front of the camera (the guard above).

  Args:
    rotated_x: Rotated joints' x' (towards the camera is negative) [..., J].
    camera_depth: Nominal distance from the camera to the pose origin, scalar or [...].
    min_joint_depth_fraction: Smallest allowed joint depth as a fraction of `camera_depth`.

  Returns:
    (depth [...], guarded [...] bool: the depth had to be increased).
  """
  depth = tf.broadcast_to(tf.cast(camera_depth, rotated_x.dtype), tf.shape(rotated_x)[:-1])
  # A joint's depth is x' + depth; the nearest joint must be at least fraction * depth away.
  needed = min_joint_depth_fraction * depth - tf.reduce_min(rotated_x, axis=-1)
  return tf.maximum(depth, needed), needed > depth


def project_3d_to_2d(keypoints_3d, azimuths, elevations, rolls,
                     camera_depth=DEFAULT_CAMERA_DEPTH,
                     min_joint_depth_fraction=MIN_JOINT_DEPTH_FRACTION, return_guarded=False):
  """Steps 3-5 of the camera augmentation: rotate, move in front of the camera, project.

  Args:
    keypoints_3d: Normalised, selected (y, x, z) points [..., J, 3].
    azimuths, elevations, rolls: Angles [...] (the leading shape of `keypoints_3d`).
    camera_depth: Scalar or [...] distance from the camera to the pose origin.
    min_joint_depth_fraction: The guard (module docstring); 0 reproduces the original.
    return_guarded: Also return which poses the guard moved the camera for.

  Returns:
    (y, x) points [..., J, 2] with unit focal length (and guarded [...] bool).
  """
  keypoints_3d = tf.convert_to_tensor(keypoints_3d)
  dtype = keypoints_3d.dtype
  matrices = create_rotation_matrices_3d(
      tf.cast(azimuths, dtype), tf.cast(elevations, dtype), tf.cast(rolls, dtype))
  rotated = rotate_points(keypoints_3d, matrices)
  y, x, z = tf.unstack(rotated, axis=-1)
  depth, guarded = guarded_camera_depth(x, camera_depth, min_joint_depth_fraction)
  camera_points = tf.stack([-z, -y, x + depth[..., tf.newaxis]], axis=-1)
  projected = camera_points[..., :2] / tf.maximum(camera_points[..., 2:], DEPTH_EPSILON)
  return (projected, guarded) if return_guarded else projected


def _uniform(shape, value_range, dtype, seed):
  low, high = value_range
  if low > high:
    raise errors.InputError(f'Invalid range {value_range}: minimum above maximum.')
  return random_keys.uniform(shape, low, high, dtype=dtype, seed=seed)


def random_project_and_select(keypoints_3d, profile_3d, profile_2d,
                              azimuth_range=DEFAULT_AZIMUTH_RANGE,
                              elevation_range=DEFAULT_ELEVATION_RANGE,
                              roll_range=DEFAULT_ROLL_RANGE,
                              camera_depth_range=DEFAULT_CAMERA_DEPTH_RANGE,
                              min_joint_depth_fraction=MIN_JOINT_DEPTH_FRACTION,
                              seed=None, return_guarded=False):
  """Steps 1-5 of the camera augmentation with angles and depth drawn per pose.

  Args:
    keypoints_3d: Unnormalised (y, x, z) points [..., J3, 3] of `profile_3d`.
    profile_3d, profile_2d: `keypoints.KeypointProfile` objects (or their names).
    azimuth_range, elevation_range, roll_range: (min, max) in radians.
    camera_depth_range: (min, max) camera depth; equal ends give a constant depth.
    min_joint_depth_fraction: The guard (module docstring); 0 reproduces the original.
    seed: None, an op-level seed or a step key (`poem_cvmim.core.random_keys`).
    return_guarded: Also return which poses the guard moved the camera for.

  Returns:
    Projected (y, x) points [..., J2, 2] in the 2D profile's joint order, not yet normalised
    (and guarded [...] bool).
  """
  profile_3d, profile_2d = _as_profile(profile_3d), _as_profile(profile_2d)
  keypoints_3d = tf.convert_to_tensor(keypoints_3d)
  normalized, _, _ = profile_3d.normalize(keypoints_3d)
  selected = tf.gather(normalized, profile_2d.compatible_indices(profile_3d.name), axis=-2)
  shape = tf.shape(selected)[:-2]
  dtype = selected.dtype
  seeds = [random_keys.derive(seed, i) for i in range(4)]
  azimuths = _uniform(shape, azimuth_range, dtype, seeds[0])
  elevations = _uniform(shape, elevation_range, dtype, seeds[1])
  rolls = _uniform(shape, roll_range, dtype, seeds[2])
  depths = _uniform(shape, camera_depth_range, dtype, seeds[3])
  return project_3d_to_2d(selected, azimuths, elevations, rolls, camera_depth=depths,
                          min_joint_depth_fraction=min_joint_depth_fraction,
                          return_guarded=return_guarded)


def create_model_input(keypoints_2d, keypoints_3d, input_type, profile_2d, profile_3d=None,
                       seed=None, return_guarded_fraction=False, return_projected=False,
                       **projection_kwargs):
  """Builds normalised 2D model input by input type ("input mixing").

  Args:
    keypoints_2d: Detected (y, x) points [..., J2, 2] in pixels (denormalised), or None for
      `3D_PROJECTION`.
    keypoints_3d: (y, x, z) points [..., J3, 3], or None for `2D_INPUT`.
    input_type: One of `INPUT_TYPES`.
    profile_2d, profile_3d: Profiles or names.
    seed: None, an op-level seed or a step key (`poem_cvmim.core.random_keys`).
    return_guarded_fraction: Also return the fraction of the projections used as input for
      which the guard moved the camera (0 when no projection is used).
    return_projected: Also return (last) which poses are projections [...] bool.
    **projection_kwargs: Ranges and the guard passed to `random_project_and_select`.

  Returns:
    Normalised (y, x) points [..., J2, 2]. With mixing, each pose independently keeps the
    detected 2D if u >= 0.5 (u ~ U[0, 1)), else takes the projection.
  """
  if input_type not in INPUT_TYPES:
    raise errors.InputError(f'Unknown input type {input_type!r}; valid: {", ".join(INPUT_TYPES)}.')
  profile_2d = _as_profile(profile_2d)
  guarded_fraction = tf.constant(0.0)
  if input_type == INPUT_2D:
    points = tf.convert_to_tensor(keypoints_2d)
    used = tf.zeros(tf.shape(points)[:-2], tf.bool)
  else:
    if keypoints_3d is None or profile_3d is None:
      raise errors.InputError(f'Input type {input_type} needs 3D keypoints and a 3D profile.')
    projected, guarded = random_project_and_select(
        keypoints_3d, profile_3d, profile_2d, seed=seed, return_guarded=True,
        **projection_kwargs)
    used = tf.ones_like(guarded)
    if input_type == INPUT_3D_PROJECTION:
      points = projected
    else:
      detected = tf.cast(keypoints_2d, projected.dtype)
      u = random_keys.uniform(tf.shape(projected)[:-2], dtype=projected.dtype,
                              seed=random_keys.derive(seed, 4))
      used = u < MIX_THRESHOLD
      points = tf.where(used[..., tf.newaxis, tf.newaxis], projected, detected)
    count = lambda mask: tf.reduce_sum(tf.cast(mask, tf.float32))
    guarded_fraction = count(guarded & used) / tf.maximum(count(used), 1.0)
  normalized, _, _ = profile_2d.normalize(points)
  outputs = (normalized,) + ((guarded_fraction,) if return_guarded_fraction else ())
  outputs += (used,) if return_projected else ()
  return outputs if len(outputs) > 1 else normalized


def _as_profile(profile):
  return keypoints.get_profile(profile) if isinstance(profile, str) else profile
