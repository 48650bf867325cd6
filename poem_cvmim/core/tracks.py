"""Keypoint tracks on disk: many clips' per-frame 2D poses in one NumPy `.npz` file.

The refiner (`poem_cvmim.temporal`) trains on clean tracks and evaluates on clean tracks; the
synthetic generator writes them (`python -m data_prep.synthetic --refiner_tracks`) and any
source of exact 2D poses over time can (Human3.6M's projected ground truth, a motion-capture
rig's projections). A file holds:

- `points` [F, 13, 2] float32: (y, x) pixels of the LEGACY_2DCOCO13 joints, every frame of
  every track one after another;
- `starts` [K + 1] int64: track k is rows starts[k]:starts[k + 1] (consecutive frames);
- `clips` [K] str: the performance a track shows (the same for its cameras, e.g.
  `S07_A03_001`: tracks of one clip are synchronised, frame t is the same instant);
- `views` [K] str: the camera of each track;
- `subjects` [K] str: the performer of each track;
- `image_size` [2] int: (height, width) in pixels.
"""

import dataclasses
import hashlib
import os

import numpy as np

from poem_cvmim.core import errors

NUM_JOINTS = 13
_KEYS = ('points', 'starts', 'clips', 'views', 'subjects', 'image_size')


@dataclasses.dataclass
class TrackSet:
  """Clean 2D tracks (see the module docstring)."""
  points: np.ndarray
  starts: np.ndarray
  clips: np.ndarray
  views: np.ndarray
  subjects: np.ndarray
  image_size: np.ndarray

  def __post_init__(self):
    self.points = np.asarray(self.points, np.float32)
    self.starts = np.asarray(self.starts, np.int64)
    self.clips = np.asarray(self.clips, str)
    self.views = np.asarray(self.views, str)
    self.subjects = np.asarray(self.subjects, str)
    self.image_size = np.asarray(self.image_size, np.int64)

  def __len__(self):
    return len(self.clips)

  @property
  def names(self) -> list:
    """`<clip>_<view>` of each track."""
    return [f'{c}_{v}' for c, v in zip(self.clips, self.views)]

  @property
  def num_frames(self) -> int:
    return len(self.points)

  def track(self, k: int) -> np.ndarray:
    return self.points[self.starts[k]:self.starts[k + 1]]

  def lengths(self) -> np.ndarray:
    return np.diff(self.starts)

  def content_sha256(self) -> str:
    """A hash of the poses and where tracks start (what a model trains on), not of the file's
    bytes: the same tracks saved again keep it."""
    digest = hashlib.sha256()
    for array in (self.points, self.starts):
      digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def from_list(points: list, clips, views, subjects, image_size) -> TrackSet:
  """A TrackSet from a list of [T_k, 13, 2] arrays."""
  lengths = [len(p) for p in points]
  return TrackSet(np.concatenate(points) if points else np.zeros((0, NUM_JOINTS, 2)),
                  np.concatenate([[0], np.cumsum(lengths)]), clips, views, subjects,
                  image_size)


def check(tracks: TrackSet, source: str = '') -> None:
  """One-line errors for a malformed set."""
  where = f'{source}: ' if source else ''
  if tracks.points.ndim != 3 or tracks.points.shape[1:] != (NUM_JOINTS, 2):
    raise errors.InputError(f'{where}points of shape {tracks.points.shape}; expected '
                            f'[frames, {NUM_JOINTS}, 2].')
  starts = tracks.starts
  if (starts.ndim != 1 or len(starts) != len(tracks) + 1 or starts[0] != 0
      or starts[-1] != len(tracks.points) or np.any(np.diff(starts) < 1)):
    raise errors.InputError(f'{where}"starts" must run from 0 to the number of frames '
                            f'({len(tracks.points)}) in {len(tracks) + 1} increasing steps.')
  for key in ('views', 'subjects'):
    if len(getattr(tracks, key)) != len(tracks):
      raise errors.InputError(f'{where}{len(getattr(tracks, key))} {key} for {len(tracks)} '
                              'tracks.')
  if tracks.image_size.shape != (2,) or np.any(tracks.image_size < 1):
    raise errors.InputError(f'{where}image_size must be (height, width) in pixels, got '
                            f'{tracks.image_size.tolist()}.')
  if not np.isfinite(tracks.points).all():
    raise errors.InputError(f'{where}NaN or Inf points.')


def save(path: str, tracks: TrackSet) -> None:
  """Writes `path` (.npz) atomically."""
  check(tracks, path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  temporary = f'{path}.partial.npz'
  np.savez(temporary, **{key: getattr(tracks, key) for key in _KEYS})
  os.replace(temporary, path)


def load(path: str) -> TrackSet:
  if not os.path.exists(path):
    raise FileNotFoundError(f'No such tracks file: {path}')
  try:
    with np.load(path, allow_pickle=False) as data:
      missing = [key for key in _KEYS if key not in data.files]
      if missing:
        raise errors.InputError(f'{path}: not a tracks file (lacks {", ".join(missing)}).')
      tracks = TrackSet(**{key: data[key] for key in _KEYS})
  except (OSError, ValueError) as error:
    raise errors.InputError(f'{path}: not a readable .npz tracks file ({error}).') from None
  check(tracks, path)
  return tracks
