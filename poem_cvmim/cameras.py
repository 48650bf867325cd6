"""Camera augmentation: random virtual views of 3D poses (SPEC §2) and input mixing.

Points are (y, x, z) in 3D and (y, x) in 2D (SPEC §1.1). The rotation matrices act on points
laid out (x, y, z); `rotate_points` swaps in and out of that layout. The 3D frame has z up and
the virtual camera, at distance `camera_depth`, looks along +x, so image y = -z'/depth and image
x = -y'/depth: the projection is not mirrored (the corrected version of the original).
"""

import math

import tensorflow as tf

from poem_cvmim import keypoints

# Smallest depth the pinhole projection divides by (SPEC §2 step 5).
DEPTH_EPSILON = 1e-12
# Default camera depth: 1 / the 2D profile's scale unit 0.5, with the 3D scale unit 1.0.
DEFAULT_CAMERA_DEPTH = 2.0
DEFAULT_AZIMUTH_RANGE = (-math.pi, math.pi)
DEFAULT_ELEVATION_RANGE = (-math.pi / 6.0, math.pi / 6.0)
DEFAULT_ROLL_RANGE = (-math.pi / 6.0, math.pi / 6.0)
DEFAULT_CAMERA_DEPTH_RANGE = (DEFAULT_CAMERA_DEPTH, DEFAULT_CAMERA_DEPTH)

# Model input types (original names, SPEC §2).
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


def project_3d_to_2d(keypoints_3d, azimuths, elevations, rolls,
                     camera_depth=DEFAULT_CAMERA_DEPTH):
  """SPEC §2 steps 3-5: rotate, move in front of the camera, pinhole-project.

  Args:
    keypoints_3d: Normalised, selected (y, x, z) points [..., J, 3].
    azimuths, elevations, rolls: Angles [...] (the leading shape of `keypoints_3d`).
    camera_depth: Scalar or [...] distance from the camera to the pose origin.

  Returns:
    (y, x) points [..., J, 2] with unit focal length.
  """
  keypoints_3d = tf.convert_to_tensor(keypoints_3d)
  dtype = keypoints_3d.dtype
  matrices = create_rotation_matrices_3d(
      tf.cast(azimuths, dtype), tf.cast(elevations, dtype), tf.cast(rolls, dtype))
  rotated = rotate_points(keypoints_3d, matrices)
  y, x, z = tf.unstack(rotated, axis=-1)
  depth = tf.cast(camera_depth, dtype)
  if depth.shape.rank:
    depth = depth[..., tf.newaxis]
  camera_points = tf.stack([-z, -y, x + depth], axis=-1)
  return camera_points[..., :2] / tf.maximum(camera_points[..., 2:], DEPTH_EPSILON)


def _uniform(shape, value_range, dtype, seed):
  low, high = value_range
  if low > high:
    raise ValueError(f'Invalid range {value_range}: minimum above maximum.')
  return tf.random.uniform(shape, low, high, dtype=dtype, seed=seed)


def random_project_and_select(keypoints_3d, profile_3d, profile_2d,
                              azimuth_range=DEFAULT_AZIMUTH_RANGE,
                              elevation_range=DEFAULT_ELEVATION_RANGE,
                              roll_range=DEFAULT_ROLL_RANGE,
                              camera_depth_range=DEFAULT_CAMERA_DEPTH_RANGE,
                              seed=None):
  """SPEC §2 steps 1-5 with angles and depth drawn per pose.

  Args:
    keypoints_3d: Unnormalised (y, x, z) points [..., J3, 3] of `profile_3d`.
    profile_3d, profile_2d: `keypoints.KeypointProfile` objects (or their names).
    azimuth_range, elevation_range, roll_range: (min, max) in radians.
    camera_depth_range: (min, max) camera depth; equal ends give a constant depth.
    seed: Op-level random seed.

  Returns:
    Projected (y, x) points [..., J2, 2] in the 2D profile's joint order, not yet normalised.
  """
  profile_3d, profile_2d = _as_profile(profile_3d), _as_profile(profile_2d)
  keypoints_3d = tf.convert_to_tensor(keypoints_3d)
  normalized, _, _ = profile_3d.normalize(keypoints_3d)
  selected = tf.gather(normalized, profile_2d.compatible_indices(profile_3d.name), axis=-2)
  shape = tf.shape(selected)[:-2]
  dtype = selected.dtype
  seeds = [None] * 4 if seed is None else [seed + i for i in range(4)]
  azimuths = _uniform(shape, azimuth_range, dtype, seeds[0])
  elevations = _uniform(shape, elevation_range, dtype, seeds[1])
  rolls = _uniform(shape, roll_range, dtype, seeds[2])
  depths = _uniform(shape, camera_depth_range, dtype, seeds[3])
  return project_3d_to_2d(selected, azimuths, elevations, rolls, camera_depth=depths)


def create_model_input(keypoints_2d, keypoints_3d, input_type, profile_2d, profile_3d=None,
                       seed=None, **projection_kwargs):
  """Builds normalised 2D model input by input type (SPEC §2, "input mixing").

  Args:
    keypoints_2d: Detected (y, x) points [..., J2, 2] in pixels (denormalised), or None for
      `3D_PROJECTION`.
    keypoints_3d: (y, x, z) points [..., J3, 3], or None for `2D_INPUT`.
    input_type: One of `INPUT_TYPES`.
    profile_2d, profile_3d: Profiles or names.
    seed: Op-level random seed.
    **projection_kwargs: Ranges passed to `random_project_and_select`.

  Returns:
    Normalised (y, x) points [..., J2, 2]. With mixing, each pose independently keeps the
    detected 2D if u >= 0.5 (u ~ U[0, 1)), else takes the projection.
  """
  if input_type not in INPUT_TYPES:
    raise ValueError(f'Unknown input type {input_type!r}; valid: {", ".join(INPUT_TYPES)}.')
  profile_2d = _as_profile(profile_2d)
  if input_type == INPUT_2D:
    points = tf.convert_to_tensor(keypoints_2d)
  else:
    if keypoints_3d is None or profile_3d is None:
      raise ValueError(f'Input type {input_type} needs 3D keypoints and a 3D profile.')
    projected = random_project_and_select(keypoints_3d, profile_3d, profile_2d, seed=seed,
                                          **projection_kwargs)
    if input_type == INPUT_3D_PROJECTION:
      points = projected
    else:
      detected = tf.cast(keypoints_2d, projected.dtype)
      u = tf.random.uniform(tf.shape(projected)[:-2], dtype=projected.dtype,
                            seed=None if seed is None else seed + 4)
      keep_detected = (u >= MIX_THRESHOLD)[..., tf.newaxis, tf.newaxis]
      points = tf.where(keep_detected, detected, projected)
  normalized, _, _ = profile_2d.normalize(points)
  return normalized


def _as_profile(profile):
  return keypoints.get_profile(profile) if isinstance(profile, str) else profile
