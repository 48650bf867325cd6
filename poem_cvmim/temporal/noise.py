"""A 2D detector's errors, simulated on clean keypoint tracks (docs/tdmi.md, "Detector model").

Every size is in normalised units of the clean pose (`core.keypoints`: the torso's largest side
is 0.5), so the model is the same for a near and a far person. Per joint and frame:

- jitter: Gaussian, standard deviation `jitter`;
- misses: a missed joint has confidence 0 and position (0, 0), as OpenPose and COCO write it;
  misses come in bursts of `miss_burst` frames (occlusions last), starting at a rate that makes
  `miss_rate` the fraction of missed joints;
- left/right swaps: with probability `swap_rate` a frame has every left joint exchanged with
  its right counterpart (a detector confusing front and back);
- outliers: with probability `outlier_rate` a joint lands uniformly within `outlier_scale` of
  its true place (snapped onto another limb or the background), with a normal confidence.

Confidences of detected joints are uniform in `score_range` and independent of the error: the
model does not assume that a detector knows when it is wrong.
"""

import dataclasses

import numpy as np

from poem_cvmim.core import detections
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints

_PROFILE = keypoints.get_profile(keypoints.LEGACY_2DCOCO13)
# The 13 joints' order with every left joint exchanged with its right counterpart.
SWAP_ORDER = np.arange(_PROFILE.keypoint_num)
for _left, _right in detections.LEFT_RIGHT_PAIRS:
  SWAP_ORDER[_left], SWAP_ORDER[_right] = _right, _left


@dataclasses.dataclass(frozen=True)
class DetectorNoise:
  """The detector model's parameters (module docstring); defaults resemble a single-person
  detector on medium-size people: a few pixels of jitter, 8 % of joints missed, a flipped
  frame in 50, an outlier in 50 joints."""
  jitter: float = 0.02
  miss_rate: float = 0.08
  miss_burst: int = 3
  swap_rate: float = 0.02
  outlier_rate: float = 0.02
  outlier_scale: float = 0.5
  score_range: tuple = (0.3, 1.0)

  def __post_init__(self):
    for name in ('jitter', 'outlier_scale'):
      if getattr(self, name) < 0.0:
        raise errors.InputError(f'{name} must be >= 0, got {getattr(self, name)}.')
    for name in ('miss_rate', 'swap_rate', 'outlier_rate'):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise errors.InputError(f'{name} must be in [0, 1), got {getattr(self, name)}.')
    if self.miss_burst < 1:
      raise errors.InputError(f'miss_burst must be >= 1, got {self.miss_burst}.')
    low, high = self.score_range
    if not 0.0 < low <= high <= 1.0:
      raise errors.InputError(f'score_range must satisfy 0 < low <= high <= 1, got '
                              f'{self.score_range}.')


def pose_unit(points: np.ndarray) -> np.ndarray:
  """Pixels per normalised unit of each pose [..., 13, 2] -> [..., 1, 1]."""
  return np.maximum(_PROFILE.scale(points), keypoints.SCALE_EPSILON) / _PROFILE.scale_unit


def corrupt(points: np.ndarray, noise: DetectorNoise, rng: np.random.Generator) -> tuple:
  """(detections [..., T, 13, 2], confidences [..., T, 13]) of clean (y, x) pixel tracks
  [..., T, 13, 2] (T consecutive frames on the second-to-last-but-one axis)."""
  points = np.asarray(points, np.float64)
  shape = points.shape[:-1]  # [..., T, 13]
  unit = pose_unit(points)  # [..., T, 1, 1]
  noisy = points + rng.normal(0.0, noise.jitter, points.shape) * unit
  flip = rng.uniform(size=shape[:-1]) < noise.swap_rate  # [..., T]
  noisy = np.where(flip[..., None, None], noisy[..., SWAP_ORDER, :], noisy)
  outlier = rng.uniform(size=shape) < noise.outlier_rate
  offsets = rng.uniform(-noise.outlier_scale, noise.outlier_scale, points.shape) * unit
  noisy = np.where(outlier[..., None], points + offsets, noisy)
  starts = rng.uniform(size=shape) < noise.miss_rate / noise.miss_burst
  missed = np.zeros(shape, bool)
  for lag in range(noise.miss_burst):  # a burst starting at t covers t .. t + burst - 1
    missed[..., lag:, :] |= starts[..., :shape[-2] - lag, :]
  scores = rng.uniform(*noise.score_range, shape)
  scores = np.where(missed, 0.0, scores)
  noisy = np.where(missed[..., None], 0.0, noisy)
  return noisy, scores
