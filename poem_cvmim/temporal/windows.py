"""From a track of detections to the refiner's inputs and back (docs/tdmi.md, "Windows").

A window is the 2r + 1 frames around a key frame (a track's ends repeat its first and last
frame). Inside a window, a missing joint (confidence <= min_score) is filled by linear
interpolation between the nearest window frames that have it (held constant at the window's
edges; a joint missing in the whole window takes the frame's hip centre). The window is then
centred on the median of its frames' hip centres and scaled by the median of their pose
scales (`keypoints` normalisation: the torso's largest side is 0.5), so one outlier frame does
not move it. The refiner sees (y, x, confidence) per joint and frame; its output, the key
frame's 13 joints in the window's units, goes back to pixels with the same centre and scale.
"""

import numpy as np

from poem_cvmim.core import keypoints

_PROFILE = keypoints.get_profile(keypoints.LEGACY_2DCOCO13)
_HIPS = _PROFILE.index(_PROFILE.offset_names)


def window_indices(num_frames: int, radius: int) -> np.ndarray:
  """[num_frames, 2r + 1] frame indices of each frame's window, clamped at the ends."""
  offsets = np.arange(-radius, radius + 1)
  return np.clip(np.arange(num_frames)[:, None] + offsets, 0, num_frames - 1)


def fill(points: np.ndarray, present: np.ndarray) -> np.ndarray:
  """Missing joints filled along the time axis (-3) of points [..., T, J, 2] given present
  [..., T, J]: linear between the nearest present frames, constant past the first and last;
  a joint absent in all T frames takes the mean of the frame's present hips (else of all its
  present joints, else 0)."""
  points = np.asarray(points, np.float64)
  present = np.asarray(present, bool)
  num = points.shape[-3]
  t = np.arange(num).reshape((num, 1))
  t = np.broadcast_to(t, present.shape)
  previous = np.maximum.accumulate(np.where(present, t, -1), axis=-2)
  following = np.flip(np.minimum.accumulate(np.flip(np.where(present, t, num), axis=-2),
                                            axis=-2), axis=-2)
  has_previous, has_following = previous >= 0, following < num
  before = np.where(has_previous, previous, following).clip(0, num - 1)
  after = np.where(has_following, following, previous).clip(0, num - 1)
  gap = (after - before).astype(np.float64)
  weight = np.where(gap > 0, (t - before) / np.where(gap > 0, gap, 1.0), 0.0)
  take = lambda index: np.take_along_axis(points, index[..., None], axis=-3)
  filled = (1.0 - weight[..., None]) * take(before) + weight[..., None] * take(after)
  never = ~(has_previous | has_following)
  if never.any():
    hips = present[..., _HIPS]
    hip_mean = _present_mean(points[..., _HIPS, :], hips)
    any_mean = _present_mean(points, present)
    centre = np.where(hips.any(axis=-1)[..., None], hip_mean, any_mean)  # [..., T, 2]
    filled = np.where(never[..., None], centre[..., None, :], filled)
  return filled


def _present_mean(points, present):
  count = present.sum(axis=-1)[..., None]
  return (points * present[..., None]).sum(axis=-2) / np.maximum(count, 1)


def normalize(points: np.ndarray, scores: np.ndarray, min_score: float = 0.0) -> tuple:
  """(inputs [N, W, 13, 3], centre [N, 1, 1, 2], unit [N, 1, 1, 1]) of windows of detections
  points [N, W, 13, 2] pixels and scores [N, W, 13]: filled, centred, scaled (module
  docstring); the third channel is the confidence (0 where filled)."""
  present = scores > min_score
  filled = fill(points, present)
  centre = np.median(_PROFILE.offset(filled), axis=-3, keepdims=True)  # [N, 1, 1, 2]
  scale = np.median(_PROFILE.scale(filled), axis=-3, keepdims=True)  # [N, 1, 1, 1]
  unit = np.maximum(scale, keypoints.SCALE_EPSILON) / _PROFILE.scale_unit
  inputs = np.concatenate([(filled - centre) / unit,
                           np.where(present, scores, 0.0)[..., None]], axis=-1)
  return inputs, centre, unit


def to_pixels(normalized: np.ndarray, centre: np.ndarray, unit: np.ndarray) -> np.ndarray:
  """Key-frame joints [N, 13, 2] in a window's units -> pixels."""
  return normalized * unit[:, 0] + centre[:, 0]
