"""Keypoint profiles: joint names, normalisation and index maps (docs/conventions.md).

Every point is stored in (y, x) order for 2D and (y, x, z) for 3D, as in the original code;
image sizes are (height, width). This is the only module that defines a skeleton.

A profile normalises points of any leading shape `[..., J, D]` and returns
`(normalized, offset, scale)` with shapes `[..., J, D]`, `[..., 1, D]` and `[..., 1, 1]`.
The same code runs on NumPy arrays (NumPy in, NumPy out) and on tensors, inside `tf.function`
and `tf.data`.
"""

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import lazy_tensorflow

tf = lazy_tensorflow.deferred

# Smallest scale a normaliser divides by, so a degenerate pose gives no NaN.
SCALE_EPSILON = 1e-12


def to_pixels(points, image_sizes):
  """(y, x) points [..., J, 2] in [0, 1] of the image -> pixels; image sizes [..., 2] are
  (height, width). Tensors in, tensors out; NumPy in, NumPy out."""
  if isinstance(points, np.ndarray) and isinstance(image_sizes, (np.ndarray, list, tuple)):
    return points * np.asarray(image_sizes, points.dtype)[..., np.newaxis, :]
  points = tf.convert_to_tensor(points)
  return points * tf.cast(image_sizes, points.dtype)[..., tf.newaxis, :]


def to_unit(points, image_sizes):
  """The inverse of `to_pixels`: pixel (y, x) points [..., J, 2] -> [0, 1] of the image."""
  if isinstance(points, np.ndarray) and isinstance(image_sizes, (np.ndarray, list, tuple)):
    return points / np.asarray(image_sizes, points.dtype)[..., np.newaxis, :]
  points = tf.convert_to_tensor(points)
  return points / tf.cast(image_sizes, points.dtype)[..., tf.newaxis, :]

LEGACY_2DCOCO13 = 'LEGACY_2DCOCO13'
LEGACY_2DH36M13 = 'LEGACY_2DH36M13'
LEGACY_3DH36M17 = 'LEGACY_3DH36M17'
STD_3D13 = '3DSTD13'

_COCO13_NAMES = (
    'NOSE_TIP', 'LEFT_SHOULDER', 'RIGHT_SHOULDER', 'LEFT_ELBOW', 'RIGHT_ELBOW', 'LEFT_WRIST',
    'RIGHT_WRIST', 'LEFT_HIP', 'RIGHT_HIP', 'LEFT_KNEE', 'RIGHT_KNEE', 'LEFT_ANKLE',
    'RIGHT_ANKLE')
_H36M17_NAMES = (
    'Hip', 'Head', 'Neck/Nose', 'Thorax', 'LShoulder', 'RShoulder', 'LElbow', 'RElbow',
    'LWrist', 'RWrist', 'Spine', 'LHip', 'RHip', 'LKnee', 'RKnee', 'LFoot', 'RFoot')
# The 13 Human3.6M joints offered to a 13-joint 2D profile, in 2D order (Head for NOSE_TIP).
_H36M13_NAMES = (
    'Head', 'LShoulder', 'RShoulder', 'LElbow', 'RElbow', 'LWrist', 'RWrist', 'LHip', 'RHip',
    'LKnee', 'RKnee', 'LFoot', 'RFoot')
_STD13_NAMES = ('HEAD',) + _COCO13_NAMES[1:]

# Index maps into LEGACY_2DCOCO13 order or into LEGACY_3DH36M17 (docs/conventions.md), 0-based.
H36M32_TO_H36M17 = (0, 15, 14, 13, 17, 25, 18, 26, 19, 27, 12, 6, 1, 7, 2, 8, 3)
H36M17_TO_COCO13 = (1, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16)
COCO17_TO_COCO13 = (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
NTU25_TO_COCO13 = (3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18)
PENN13_TO_COCO13 = tuple(range(13))


def _pairs(names):
  """All unordered pairs of single joints, in the original's order."""
  return tuple(((names[i],), (names[j],))
               for i in range(len(names)) for j in range(i + 1, len(names)))


@dataclasses.dataclass(frozen=True)
class KeypointProfile:
  """A skeleton: joint names, how to normalise, and which joints a 2D profile can take.

  Attributes:
    name: Profile name (part of the API and of saved configs).
    keypoint_names: Joint names in array order.
    keypoint_dim: 2 or 3.
    offset_names: The offset point is the mean of these joints.
    scale_pairs: Pairs (start joints, end joints); each distance is between the mean of the
      start joints and the mean of the end joints.
    scale_reduction: 'MAX' or 'SUM' over the pair distances.
    scale_unit: The normalised scale distance.
    compatible_names: For a 2D profile, 3D profile name -> the 3D joints in this profile's
      order (used to select 3D joints before projecting).
  """
  name: str
  keypoint_names: tuple
  keypoint_dim: int
  offset_names: tuple
  scale_pairs: tuple
  scale_reduction: str
  scale_unit: float
  compatible_names: Mapping[str, tuple] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.keypoint_dim not in (2, 3):
      raise errors.InputError(f'keypoint_dim must be 2 or 3, got {self.keypoint_dim}.')
    if self.scale_reduction not in ('MAX', 'SUM'):
      raise errors.InputError(
          f"scale_reduction must be 'MAX' or 'SUM', got {self.scale_reduction!r}.")
    known = set(self.keypoint_names)
    used = set(self.offset_names)
    for start, end in self.scale_pairs:
      used.update(start + end)
    if used - known:
      raise errors.InputError(f'Profile {self.name} names unknown joints {sorted(used - known)}.')

  @property
  def keypoint_num(self) -> int:
    return len(self.keypoint_names)

  def index(self, names: Sequence[str]) -> list:
    """Array indices of the given joint names."""
    missing = [n for n in names if n not in self.keypoint_names]
    if missing:
      raise errors.InputError(f'Profile {self.name} has no joints {missing}; it has '
                              f'{list(self.keypoint_names)}.')
    return [self.keypoint_names.index(n) for n in names]

  def compatible_indices(self, profile_3d_name: str) -> list:
    """Indices into a 3D profile's joints giving this (2D) profile's joints, in order."""
    if profile_3d_name not in self.compatible_names:
      raise errors.InputError(f'Profile {self.name} cannot take joints from {profile_3d_name}; '
                              f'valid: {sorted(self.compatible_names)}.')
    return get_profile(profile_3d_name).index(self.compatible_names[profile_3d_name])

  def offset(self, points):
    """Offset points [..., 1, D]: mean of the offset joints."""
    ops = _ops_for(points)
    return ops.mean(ops.take(points, self.index(self.offset_names)), keepdims=True)

  def scale(self, points):
    """Scale distances [..., 1, 1] (before the unit is applied)."""
    ops = _ops_for(points)
    distances = []
    for start, end in self.scale_pairs:
      start_point = ops.mean(ops.take(points, self.index(start)), keepdims=True)
      end_point = ops.mean(ops.take(points, self.index(end)), keepdims=True)
      distances.append(ops.norm(start_point - end_point))
    distances = ops.concat(distances)
    return ops.reduce(distances, self.scale_reduction)

  def normalize(self, points):
    """Centres on the offset and scales to the unit: returns (normalized, offset, scale)."""
    ops = _ops_for(points)
    points = ops.asarray(points)
    offset = self.offset(points)
    scale = self.scale(points)
    normalized = (points - offset) / ops.maximum(scale, SCALE_EPSILON) * self.scale_unit
    return normalized, offset, scale

  def denormalize(self, normalized, offset, scale):
    """Inverse of `normalize` given its offset and scale."""
    ops = _ops_for(normalized)
    return normalized / self.scale_unit * ops.maximum(scale, SCALE_EPSILON) + offset


class _NumpyOps:
  """The few array operations a profile needs, on NumPy arrays (axis -2 = joints)."""
  asarray = staticmethod(np.asarray)

  @staticmethod
  def take(x, idx):
    return np.take(x, idx, axis=-2)

  @staticmethod
  def mean(x, keepdims):
    return np.mean(x, axis=-2, keepdims=keepdims)

  @staticmethod
  def norm(x):
    return np.linalg.norm(x, axis=-1, keepdims=True)

  @staticmethod
  def concat(xs):
    return np.concatenate(xs, axis=-1)

  @staticmethod
  def reduce(x, kind):
    return (np.max if kind == 'MAX' else np.sum)(x, axis=-1, keepdims=True)

  @staticmethod
  def maximum(x, y):
    return np.maximum(x, y)


class _TensorOps:
  """The same operations on tensors."""
  @staticmethod
  def asarray(x):
    return tf.convert_to_tensor(x)

  @staticmethod
  def take(x, idx):
    return tf.gather(x, idx, axis=-2)

  @staticmethod
  def mean(x, keepdims):
    return tf.reduce_mean(x, axis=-2, keepdims=keepdims)

  @staticmethod
  def norm(x):
    return tf.norm(x, axis=-1, keepdims=True)

  @staticmethod
  def concat(xs):
    return tf.concat(xs, axis=-1)

  @staticmethod
  def reduce(x, kind):
    return (tf.reduce_max if kind == 'MAX' else tf.reduce_sum)(x, axis=-1, keepdims=True)

  @staticmethod
  def maximum(x, y):
    return tf.maximum(x, tf.cast(y, x.dtype))


def _ops_for(points):
  return _NumpyOps if isinstance(points, (np.ndarray, list, tuple)) else _TensorOps


# The 3D joints a 13-joint 2D profile takes, per 3D profile, in 2D order.
_COMPATIBLE_13 = {LEGACY_3DH36M17: _H36M13_NAMES, STD_3D13: _STD13_NAMES}


_PROFILES = {
    LEGACY_2DCOCO13: KeypointProfile(
        name=LEGACY_2DCOCO13, keypoint_names=_COCO13_NAMES, keypoint_dim=2,
        offset_names=('LEFT_HIP', 'RIGHT_HIP'),
        scale_pairs=_pairs(('LEFT_SHOULDER', 'RIGHT_SHOULDER', 'LEFT_HIP', 'RIGHT_HIP')),
        scale_reduction='MAX', scale_unit=0.5,
        compatible_names=_COMPATIBLE_13),
    LEGACY_2DH36M13: KeypointProfile(
        name=LEGACY_2DH36M13, keypoint_names=_H36M13_NAMES, keypoint_dim=2,
        offset_names=('LHip', 'RHip'),
        scale_pairs=_pairs(('LShoulder', 'RShoulder', 'LHip', 'RHip')),
        scale_reduction='MAX', scale_unit=0.5,
        compatible_names=_COMPATIBLE_13),
    LEGACY_3DH36M17: KeypointProfile(
        name=LEGACY_3DH36M17, keypoint_names=_H36M17_NAMES, keypoint_dim=3,
        offset_names=('Hip',),
        scale_pairs=((('Hip',), ('Spine',)), (('Spine',), ('Thorax',))),
        scale_reduction='SUM', scale_unit=1.0),
    STD_3D13: KeypointProfile(
        name=STD_3D13, keypoint_names=_STD13_NAMES, keypoint_dim=3,
        offset_names=('LEFT_HIP', 'RIGHT_HIP'),
        scale_pairs=((('LEFT_SHOULDER', 'RIGHT_SHOULDER'), ('LEFT_HIP', 'RIGHT_HIP')),),
        scale_reduction='SUM', scale_unit=1.0),
}
PROFILE_NAMES = tuple(sorted(_PROFILES))
PROFILE_NAMES_2D = tuple(n for n in PROFILE_NAMES if _PROFILES[n].keypoint_dim == 2)
PROFILE_NAMES_3D = tuple(n for n in PROFILE_NAMES if _PROFILES[n].keypoint_dim == 3)


@dataclasses.dataclass(frozen=True)
class SkeletonGraph:
  """The bones of a skeleton for graph models (ST-GCN): 0-based joint index pairs and the
  centre joint the spatial partition measures distances from."""
  name: str
  num_joints: int
  edges: tuple
  center: int


# LEGACY_2DCOCO13's bones: MMAction2's COCO layout without eyes and ears (nose to shoulders,
# shoulder-elbow-wrist, shoulder-hip, hip-knee-ankle), centred on the nose.
COCO13_GRAPH = SkeletonGraph(
    name=LEGACY_2DCOCO13, num_joints=13, center=0,
    edges=((0, 1), (0, 2), (1, 3), (3, 5), (2, 4), (4, 6), (1, 7), (2, 8), (7, 9), (9, 11),
           (8, 10), (10, 12)))
# The NTU RGB+D Kinect v2 skeleton (25 joints) as ST-GCN's reference code lists it (1-based
# there), centred on the spine at the shoulders (joint 21, index 20).
NTU25_GRAPH = SkeletonGraph(
    name='NTU_RGBD_25', num_joints=25, center=20,
    edges=tuple((i - 1, j - 1) for i, j in (
        (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
        (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17),
        (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12))))
SKELETON_GRAPHS = {graph.num_joints: graph for graph in (COCO13_GRAPH, NTU25_GRAPH)}


def graph_for_joints(num_joints: int) -> SkeletonGraph:
  """The skeleton graph with `num_joints` joints; another count names both."""
  if num_joints not in SKELETON_GRAPHS:
    known = ', '.join(f'{n} ({g.name})' for n, g in sorted(SKELETON_GRAPHS.items()))
    raise errors.InputError(f'No skeleton graph has {num_joints} joints; graphs exist for {known}.')
  return SKELETON_GRAPHS[num_joints]


def get_profile(name: str) -> KeypointProfile:
  """Returns the profile called `name`; an unknown name lists the valid ones."""
  if name not in _PROFILES:
    raise errors.InputError(f'Unknown keypoint profile {name!r}; valid profiles: '
                            f'{", ".join(PROFILE_NAMES)}.')
  return _PROFILES[name]
