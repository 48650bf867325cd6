"""How close refined keypoints come to the truth (docs/tdmi.md, "The ablation").

Errors are per joint and frame, Euclidean, in pixels and in normalised units of the clean
pose (pixels divided by its pixels per unit: the torso's largest side is 0.5); PCK@t is the
share of joints within t normalised units. Noisy inputs are drawn once per track from
(seed, track index), so every method sees the same detections.
"""

import numpy as np

from poem_cvmim.core import tracks as tracks_lib
from poem_cvmim.temporal import filters
from poem_cvmim.temporal import noise as noise_lib

PCK_THRESHOLDS = (0.05, 0.1)


def corrupt_tracks(tracks: tracks_lib.TrackSet, noise: noise_lib.DetectorNoise,
                   seed: int) -> list:
  """[(detections [T, 13, 2], confidences [T, 13])] of every track."""
  return [noise_lib.corrupt(tracks.track(k), noise, np.random.default_rng([seed, k]))
          for k in range(len(tracks))]


def joint_errors(tracks: tracks_lib.TrackSet, estimates: list) -> tuple:
  """(pixels [F, 13], normalised [F, 13]) errors of per-track estimates [T, 13, 2]."""
  pixels, normalised = [], []
  for k, estimate in enumerate(estimates):
    clean = tracks.track(k).astype(np.float64)
    error = np.linalg.norm(np.asarray(estimate, np.float64) - clean, axis=-1)
    pixels.append(error)
    normalised.append(error / noise_lib.pose_unit(clean)[..., 0])
  return np.concatenate(pixels), np.concatenate(normalised)


def summarize(tracks: tracks_lib.TrackSet, estimates: list) -> dict:
  """{'error_px', 'error_norm', 'pck@0.05', 'pck@0.1'} (PCK in %)."""
  pixels, normalised = joint_errors(tracks, estimates)
  result = {'error_px': float(pixels.mean()), 'error_norm': float(normalised.mean())}
  for threshold in PCK_THRESHOLDS:
    result[f'pck@{threshold:g}'] = float(100.0 * np.mean(normalised <= threshold))
  return result


def tune_filter(name: str, tracks: tracks_lib.TrackSet, noisy: list) -> dict:
  """The parameters of `filters.GRIDS[name]` with the lowest normalised error on these
  (training) tracks."""
  def error(params):
    estimates = [filters.apply(name, points, scores, **params) for points, scores in noisy]
    return summarize(tracks, estimates)['error_norm']
  return min(filters.GRIDS[name], key=error)


def subset(tracks: tracks_lib.TrackSet, count: int, seed: int = 0) -> tracks_lib.TrackSet:
  """`count` tracks drawn without replacement (all when there are fewer)."""
  if count >= len(tracks):
    return tracks
  chosen = np.sort(np.random.default_rng(seed).choice(len(tracks), count, replace=False))
  return tracks_lib.from_list([tracks.track(k) for k in chosen], tracks.clips[chosen],
                              tracks.views[chosen], tracks.subjects[chosen], tracks.image_size)
