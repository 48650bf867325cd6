"""The classic temporal filters a pose pipeline applies to keypoint tracks, as the refiner's
baselines (docs/tdmi.md, "Baselines").

Each takes one person's consecutive detections (points [T, 13, 2] pixels, confidences
[T, 13]), fills missing joints by linear interpolation in time first (`windows.fill` over the
whole track), and filters every coordinate series:

- `butterworth`: a zero-phase Butterworth low-pass (forward and backward, `filtfilt`), as
  biomechanics and pose pipelines smooth marker and keypoint tracks: order 4 (2 each way),
  cut-off `cutoff_hz` at `fps`;
- `savitzky_golay`: a least-squares polynomial of `order` over a `window` of frames;
- `one_euro`: the One-Euro filter (Casiez et al. 2012), causal, an adaptive low-pass whose
  cut-off rises with speed: min_cutoff + beta |dx/dt|.
"""

import math

import numpy as np
from scipy import signal

from poem_cvmim.temporal import noise
from poem_cvmim.temporal import windows

FILTERS = ('butterworth', 'savitzky_golay', 'one_euro')
# Parameter grids a user would try; `tune` picks the best on training tracks.
GRIDS = {
    'butterworth': [{'cutoff_hz': c} for c in (2.0, 3.0, 4.0, 6.0, 8.0, 10.0)],
    'savitzky_golay': [{'window': w, 'order': o} for w in (3, 5, 7, 9, 13, 17)
                       for o in (1, 2, 3) if o < w - 1],
    'one_euro': [{'min_cutoff': m, 'beta': b} for m in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
                 for b in (0.0, 0.05, 0.2, 1.0, 5.0)],
}
FPS = 30.0


def filled(points, scores, min_score=0.0) -> np.ndarray:
  """Missing joints of a track linearly interpolated in time."""
  return windows.fill(points, np.asarray(scores) > min_score)


def butterworth(points, scores, cutoff_hz=6.0, fps=FPS, min_score=0.0):
  series = filled(points, scores, min_score)
  b, a = signal.butter(2, min(cutoff_hz / (fps / 2.0), 0.99))
  if len(series) < 2:
    return series
  padlen = min(3 * max(len(a), len(b)), len(series) - 1)
  return signal.filtfilt(b, a, series, axis=0, padlen=padlen)


def savitzky_golay(points, scores, window=9, order=2, min_score=0.0):
  series = filled(points, scores, min_score)
  window = min(window, len(series) - (1 - len(series) % 2))  # odd, at most T
  if window <= order:
    return series
  return signal.savgol_filter(series, window, order, axis=0, mode='interp')


def _alpha(cutoff, dt):
  tau = 1.0 / (2.0 * math.pi * cutoff)
  return 1.0 / (1.0 + tau / dt)


def one_euro(points, scores, min_cutoff=1.0, beta=0.01, d_cutoff=1.0, fps=FPS,
             min_score=0.0):
  """Speeds in pixels per second are divided by the track's median pose unit (pixels per
  normalised unit), so `beta` does not depend on the person's size in the image."""
  series = filled(points, scores, min_score)
  dt = 1.0 / fps
  unit = float(np.median(noise.pose_unit(series)))
  out = np.empty_like(series)
  out[0] = series[0]
  derivative = np.zeros_like(series[0])
  alpha_d = _alpha(d_cutoff, dt)
  for t in range(1, len(series)):
    raw_derivative = (series[t] - out[t - 1]) / dt
    derivative = alpha_d * raw_derivative + (1.0 - alpha_d) * derivative
    cutoff = min_cutoff + beta * np.abs(derivative) / unit
    alpha = 1.0 / (1.0 + fps / (2.0 * math.pi * cutoff))
    out[t] = alpha * series[t] + (1.0 - alpha) * out[t - 1]
  return out


def apply(name: str, points, scores, **params) -> np.ndarray:
  return {'butterworth': butterworth, 'savitzky_golay': savitzky_golay,
          'one_euro': one_euro}[name](points, scores, **params)
