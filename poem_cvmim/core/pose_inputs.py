"""Checks of 2D poses from outside (detector output, .npy and .csv files, records) before an
encoder trusts them, the same on every path.

- An image size is two finite numbers > 0, height first.
- Coordinates agree with their stated unit: pixels lie beyond [0, 1.5] somewhere in a file
  (a pose of a 1080-pixel image does), coordinates in [0, 1] units of the image do not; a file
  whose coordinates contradict the flag given with it is refused, not silently rescaled.
- A pose is not degenerate: its shoulders and hips, whose largest distance is the scale the
  profile divides by, are not at one point (an all-zero pose would normalise to ~1e12).
"""

from typing import Optional, Sequence

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints

# Largest |coordinate| of points in [0, 1] units of the image: detectors place joints a little
# outside the frame, and anything larger than this is a pixel coordinate.
NORMALIZED_LIMIT = 1.5
# A torso whose largest shoulder/hip distance is below this fraction of the pose's extent (or
# of 1 pixel) has collapsed to a point.
_DEGENERATE_SCALE = 1e-6


def parse_image_size(values: Optional[Sequence]) -> Optional[tuple]:
  """(height, width) as floats from a flag's list, or None; a one-line error otherwise."""
  if values is None:
    return None
  values = list(values)
  if len(values) != 2:
    raise errors.InputError(f'--image_size takes HEIGHT,WIDTH (two numbers), got '
                            f'{",".join(map(str, values)) or "nothing"}.')
  try:
    size = tuple(float(v) for v in values)
  except ValueError:
    raise errors.InputError(f'--image_size={",".join(map(str, values))}: not two numbers.'
                            ) from None
  if not all(np.isfinite(size)) or min(size) <= 0:
    raise errors.InputError(f'--image_size={",".join(map(str, values))}: height and width '
                            'must be positive.')
  return size


def to_pixels(points: np.ndarray, image_size: Optional[tuple], source: str) -> np.ndarray:
  """(y, x) poses [..., J, 2] in pixels: scaled by `image_size` when the points are in [0, 1]
  units of the image, as given otherwise. Raises InputError when the coordinates contradict
  that (pixels with an image size, [0, 1] units without one)."""
  points = np.asarray(points, np.float64)
  largest = float(np.max(np.abs(points))) if points.size else 0.0
  if image_size is None:
    if largest <= NORMALIZED_LIMIT:
      raise errors.InputError(
          f'{source}: the coordinates lie within [0, {NORMALIZED_LIMIT:g}], as if normalised '
          'by the image size: give the image size (--image_size=HEIGHT,WIDTH).')
    return points
  if largest > NORMALIZED_LIMIT:
    raise errors.InputError(
        f'{source}: coordinates reach {largest:.4g}, but with --image_size they are read as '
        f'[0, 1] units of the image: these look like pixels; drop --image_size.')
  return points * np.asarray(image_size, np.float64)


def check_not_degenerate(points: np.ndarray, source: str, scale=None,
                         profile_name: str = keypoints.LEGACY_2DCOCO13) -> None:
  """Raises InputError naming the first pose (0-based) whose torso has no extent.

  points: poses [..., J, 2]; scale: the profile's normalisation scale of each pose
  ([..., 1, 1], as `normalize` returns it) where the caller has it, else computed here.
  """
  points = np.asarray(points, np.float64)
  if not points.size:
    return
  if scale is None:
    _, _, scale = keypoints.get_profile(profile_name).normalize(points)
  extent = np.max(np.abs(points - np.mean(points, axis=-2, keepdims=True)), axis=(-2, -1))
  bad = np.flatnonzero((np.reshape(scale, extent.shape) <=
                        _DEGENERATE_SCALE * np.maximum(extent, 1.0)).reshape(-1))
  if len(bad):
    raise errors.InputError(
        f'{source}: pose {bad[0]} (0-based; {len(bad)} in all) has its shoulders and hips at '
        'one point (an all-zero or empty pose?): drop or fill such poses.')
