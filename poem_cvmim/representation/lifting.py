"""3D targets of a pose head (MCSS, docs/mcss.md): normalised 3D poses in the body's own frame,
and which clips keep their 3D.

Pair records hold each instant's 3D pose in world coordinates, the same for both cameras, and
no camera: a network that sees one 2D view cannot know where the world's axes are. Expressed in
the body frame (x from the right hip to the left, y from the hips' midpoint up to the shoulders'
made orthogonal to x, z = x × y, origin and scale of the 3D profile's normalisation) the target
is a function of the pose alone, the same from every camera. The MPJPE in that frame is what the
head is trained and scored on; the Procrustes-aligned MPJPE does not depend on the frame.
"""

import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints

# The joints that span the body frame, by profile: (left hip, right hip, left shoulder, right
# shoulder).
_FRAME_JOINTS = {
    keypoints.LEGACY_3DH36M17: ('LHip', 'RHip', 'LShoulder', 'RShoulder'),
    keypoints.STD_3D13: ('LEFT_HIP', 'RIGHT_HIP', 'LEFT_SHOULDER', 'RIGHT_SHOULDER'),
}
# 3D fingerprints are spread evenly over int64; a clip keeps its 3D when its fingerprint falls in
# the first `fraction` of this many buckets.
_BUCKETS = 1_000_000


def body_frame(poses_3d, profile_3d: str):
  """Normalised 3D poses [..., J, 3] (the profile's `normalize` output) rotated into the body
  frame (module docstring). Same shape and dtype."""
  if profile_3d not in _FRAME_JOINTS:
    raise errors.InputError(f'No body frame for 3D profile {profile_3d!r}; valid: '
                            f'{", ".join(_FRAME_JOINTS)}.')
  names = keypoints.get_profile(profile_3d).keypoint_names
  left_hip, right_hip, left_shoulder, right_shoulder = (
      poses_3d[..., names.index(name), :] for name in _FRAME_JOINTS[profile_3d])
  x = _unit(left_hip - right_hip)
  up = 0.5 * (left_shoulder + right_shoulder) - 0.5 * (left_hip + right_hip)
  y = _unit(up - tf.reduce_sum(up * x, axis=-1, keepdims=True) * x)
  z = tf.linalg.cross(x, y)
  rotation = tf.stack([x, y, z], axis=-2)  # [..., 3, 3]: rows are the body axes
  return tf.einsum('...jc,...ac->...ja', poses_3d, rotation)


def _unit(vectors):
  norm = tf.norm(vectors, axis=-1, keepdims=True)
  return vectors / tf.maximum(norm, tf.constant(1e-9, vectors.dtype))


def keeps_3d(clips, fraction: float):
  """[B] bool: whether each clip (int64 fingerprint, `pipeline.CLIPS`) is among the `fraction`
  of clips whose 3D is used; the choice depends on the clip alone (the same in every run, seed
  and batch), and a larger fraction keeps a superset."""
  buckets = tf.math.floormod(tf.cast(clips, tf.int64), _BUCKETS)
  return buckets < int(round(fraction * _BUCKETS))


def has_3d(poses_3d):
  """[B, ...] bool over the last two axes [J, 3]: the pose is finite and not all zero (a
  record without 3D for its clip stores zeros)."""
  finite = tf.reduce_all(tf.math.is_finite(poses_3d), axis=[-2, -1])
  nonzero = tf.reduce_any(tf.not_equal(poses_3d, 0.0), axis=[-2, -1])
  return finite & nonzero


def mpjpe(predicted, targets):
  """Mean per-joint Euclidean error [...] of 3D poses [..., J, 3]."""
  return tf.reduce_mean(tf.norm(predicted - targets, axis=-1), axis=-1)
