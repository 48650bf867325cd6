"""Readers for the Human3.6M files a user may have (data_prep/README.md).

3D (world coordinates, returned in mm as [N, 32, 3] arrays of the 32-joint skeleton):
- the 3d-pose-baseline tree `<root>/<Subject>/MyPoses/3D_positions/<Action>.h5`, dataset
  `3D_positions` of shape (96, N), mm;
- VideoPose3D `data_3d_h36m.npz`: `positions_3d[subject][action]`, (N, 32, 3), metres;
- the official `<root>/<Subject>/MyPoseFeatures/D3_Positions/<Action>.cdf`, variable `Pose`,
  (1, N, 96), mm.
2D detections:
- a CSV with, per entry, subject, subaction, camera, frame index, width, height and x, y,
  score (normalised to [0, 1]) of the 13 LEGACY_2DCOCO13 joints; a row holds one entry or two
  (a pair); an optional header row;
- VideoPose3D `data_2d_h36m_<detector>.npz`: `positions_2d[subject][action]` = four (N, 17, 2)
  pixel arrays in camera order, joints in VideoPose3D's 17-joint order.
Action names are canonicalised so that `Photo`/`TakingPhoto` and `WalkDog`/`WalkingDog` match.
"""

import csv
import dataclasses
import os
import pickle
import re
import zipfile
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np

from data_prep import conversion
from data_prep import h36m_cameras
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints

NUM_JOINTS_32 = 32
MM_PER_METRE = 1000.0
# Alternative spellings of one action in the releases (data_prep/README.md) -> the canonical name.
ACTION_ALIASES = {'Photo': 'TakingPhoto', 'WalkDog': 'WalkingDog'}
# VideoPose3D's 17-joint order (the 32-joint skeleton without its static joints), by name.
VIDEOPOSE3D_17 = ('Hip', 'RHip', 'RKnee', 'RFoot', 'LHip', 'LKnee', 'LFoot', 'Spine', 'Thorax',
                  'Neck/Nose', 'Head', 'LShoulder', 'LElbow', 'LWrist', 'RShoulder', 'RElbow',
                  'RWrist')
SUBJECT_PATTERN = re.compile(r'S\d+')
CSV_ENTRY_FIELDS = 6 + 3 * 13  # subject, subaction, camera, frame, width, height, 13 x (x,y,s)


def canonical_action(name: str) -> str:
  """'Photo 1' -> 'TakingPhoto 1', 'WalkDog' -> 'WalkingDog'; other names unchanged."""
  base, sep, rest = name.strip().partition(' ')
  return ACTION_ALIASES.get(base, base) + sep + rest


@dataclasses.dataclass
class Sequence3D:
  subject: str
  action: str  # canonical
  source: str  # file (and key) it came from
  poses: Optional[np.ndarray] = None  # [N, 32, 3] world mm, or None until read from `source`
  path: Optional[str] = None  # file to read in the worker


def _subject_of(path: str, root: str) -> Optional[str]:
  for part in os.path.relpath(path, root).split(os.sep):
    if SUBJECT_PATTERN.fullmatch(part):
      return part
  return None


def find_h5(root: str) -> List[Sequence3D]:
  pattern = os.path.join('*', 'MyPoses', '3D_positions', '*.h5')
  return _find(root, pattern, '3d-pose-baseline <Subject>/MyPoses/3D_positions/*.h5 files')


def find_cdf(root: str) -> List[Sequence3D]:
  pattern = os.path.join('**', 'D3_Positions', '*.cdf')
  return _find(root, pattern, 'Human3.6M <Subject>/MyPoseFeatures/D3_Positions/*.cdf files',
               recursive=True)


def _find(root, pattern, what, recursive=False):
  sequences = []
  for path in conversion.list_inputs(root, pattern, what, recursive=recursive):
    subject = _subject_of(path, root)
    action = canonical_action(os.path.splitext(os.path.basename(path))[0])
    sequences.append(Sequence3D(subject or '', action, path, path=path))
  return sequences


def read_poses(path: str) -> np.ndarray:
  """[N, 32, 3] world mm from an .h5 or .cdf file; MalformedInput if the layout is wrong."""
  if path.endswith('.h5'):
    import h5py  # pylint: disable=g-import-not-at-top
    try:
      with h5py.File(path, 'r') as f:
        if '3D_positions' not in f:
          raise conversion.MalformedInput(path, "no dataset '3D_positions'")
        data = np.asarray(f['3D_positions'], np.float64)
    except OSError as error:
      raise conversion.MalformedInput(path, f'not a readable HDF5 file ({error})') from None
    if data.ndim != 2 or data.shape[0] != 3 * NUM_JOINTS_32:
      raise conversion.MalformedInput(path, f"'3D_positions' has shape {data.shape}, expected (96, N)")
    return data.T.reshape(-1, NUM_JOINTS_32, 3)
  import cdflib  # pylint: disable=g-import-not-at-top
  try:
    data = np.asarray(cdflib.CDF(path).varget('Pose'), np.float64)
  except Exception as error:  # cdflib raises several types for unreadable files
    raise conversion.MalformedInput(path, f"no readable variable 'Pose' ({error})") from None
  if data.size == 0 or data.shape[-1] != 3 * NUM_JOINTS_32:
    raise conversion.MalformedInput(path, f"'Pose' has shape {data.shape}, expected (1, N, 96)")
  return data.reshape(-1, NUM_JOINTS_32, 3)


def _load_npz_dict(path: str, key: str) -> dict:
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} does not exist.')
  try:
    data = np.load(path, allow_pickle=True)
  except _NPZ_ERRORS as error:  # a text file is tried as a pickle, a cut one as a zip
    raise conversion.MalformedInput(path, f'not a readable .npz file ({_reason(error)})') from None
  if not hasattr(data, 'files'):  # a .npy array or a pickle, not an archive
    raise conversion.MalformedInput(path, f'not an .npz archive (it holds a '
                                    f'{type(data).__name__})')
  with data:
    if key not in data.files:
      raise conversion.MalformedInput(path, f'no array {key!r} (found {sorted(data.files)})')
    try:
      value = data[key]
      return value.item()
    except _NPZ_ERRORS as error:  # a member cut short or corrupt
      raise conversion.MalformedInput(path, f'array {key!r} cannot be read, the file is '
                                      f'truncated or corrupt ({_reason(error)})') from None


# What NumPy's loader raises on a file that is not an intact archive: its own ValueError and
# OSError, the zip reader's, the decompressor's, and the unpickler's for other content.
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
               pickle.UnpicklingError, AttributeError, IndexError, KeyError, TypeError)


def _reason(error: BaseException) -> str:
  return (str(error).strip().splitlines() or [type(error).__name__])[0][:160]


def read_videopose3d(path: str) -> List[Sequence3D]:
  """Every (subject, action) of `data_3d_h36m.npz`, converted to mm."""
  sequences = []
  for subject, actions in sorted(_load_npz_dict(path, 'positions_3d').items()):
    for action, poses in sorted(actions.items()):
      poses = np.asarray(poses, np.float64)
      if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS_32, 3):
        raise conversion.MalformedInput(path, f'positions_3d[{subject!r}][{action!r}] has shape '
                             f'{poses.shape}, expected (N, 32, 3)')
      sequences.append(Sequence3D(subject, canonical_action(action), f'{path}:{subject}/'
                                  f'{action}', poses=poses * MM_PER_METRE))
  return sequences


@dataclasses.dataclass
class FrameTable:
  """The 2D of one camera over one sequence: a row per frame in `frames` (sorted, unique)."""
  frames: np.ndarray  # [n] frame indices
  image_sizes: np.ndarray  # [n, 2] (height, width)
  points: np.ndarray  # [n, 13, 2] (y, x) normalised
  scores: np.ndarray  # [n, 13]

  @classmethod
  def build(cls, frames, image_sizes, points, scores) -> 'FrameTable':
    """From rows in any order; for a frame given twice, the later row wins."""
    frames = np.asarray(frames, np.int64)
    last = len(frames) - 1 - np.unique(frames[::-1], return_index=True)[1]
    return cls(frames[last], np.asarray(image_sizes, np.int64)[last],
               np.asarray(points, np.float32)[last], np.asarray(scores, np.float32)[last])

  def row(self, frame: int) -> Optional[int]:
    """Row of `frame`, or None when the camera has no 2D for it."""
    index = int(np.searchsorted(self.frames, frame))
    return index if index < len(self.frames) and self.frames[index] == frame else None


# {(subject, canonical action): {camera id: FrameTable}}
Detections = Dict[Tuple[str, str], Dict[str, FrameTable]]


def read_videopose3d_2d(path: str) -> Detections:
  """Detections of `data_2d_h36m_<detector>.npz` (pixels, score 1), re-indexed by name."""
  order = [VIDEOPOSE3D_17.index(name) for name in keypoints.get_profile(
      keypoints.LEGACY_3DH36M17).keypoint_names]
  to_13 = [order[i] for i in keypoints.H36M17_TO_COCO13]
  cameras = {camera.id: camera for camera in next(iter(h36m_cameras.load_cameras().values()))}
  detections = {}
  for subject, actions in _load_npz_dict(path, 'positions_2d').items():
    for action, views in actions.items():
      by_camera = detections.setdefault((subject, canonical_action(action)), {})
      for camera_id, points in zip(h36m_cameras.CAMERA_IDS, views):
        height, width = cameras[camera_id].image_size
        points = np.asarray(points, np.float64)[:, to_13]
        num = len(points)
        by_camera[camera_id] = FrameTable(
            np.arange(num), np.tile([[height, width]], (num, 1)),
            keypoints.to_unit(points[..., ::-1], [height, width]).astype(np.float32),
            np.ones((num, 13), np.float32))
  return detections


def _camera_id(text: str) -> str:
  text = text.strip()
  if text in h36m_cameras.CAMERA_IDS:
    return text
  if text.isdigit() and 1 <= int(text) <= len(h36m_cameras.CAMERA_IDS):
    return h36m_cameras.CAMERA_IDS[int(text) - 1]
  raise errors.InputError(f'unknown camera {text!r} (an id such as 54138969, or 1-4)')


def _csv_entry(fields):
  subject, action, camera, frame, width, height = fields[:6]
  values = np.asarray([float(v) for v in fields[6:]], np.float64).reshape(13, 3)
  return ((subject.strip(), canonical_action(action)), _camera_id(camera), int(float(frame)),
          (int(float(height)), int(float(width))), values)


def read_detection_csv(path: str, on_bad_row) -> Detections:
  """Detections of a CSV; `on_bad_row(MalformedInput)` is called for each unreadable row."""
  rows = {}  # (key, camera) -> ([frames], [sizes], [points], [scores])
  with open(path, newline='') as f:
    for line, row in enumerate(csv.reader(f), start=1):
      if not row or (line == 1 and not any(_is_number(v) for v in row)):
        continue  # blank line, or a header (no field is a number)
      if len(row) not in (CSV_ENTRY_FIELDS, 2 * CSV_ENTRY_FIELDS):
        on_bad_row(conversion.MalformedInput(
            path, f'row has {len(row)} columns, expected {CSV_ENTRY_FIELDS} (one entry) or '
            f'{2 * CSV_ENTRY_FIELDS} (a pair)', line))
        continue
      try:
        entries = [_csv_entry(row[i:i + CSV_ENTRY_FIELDS])
                   for i in range(0, len(row), CSV_ENTRY_FIELDS)]
      except ValueError as error:
        on_bad_row(conversion.MalformedInput(path, str(error), line))
        continue
      for key, camera_id, frame, size, values in entries:
        table = rows.setdefault((key, camera_id), ([], [], [], []))
        for column, value in zip(table, (frame, size, values[:, [1, 0]], values[:, 2])):
          column.append(value)
  detections = {}
  for (key, camera_id), columns in sorted(rows.items()):
    detections.setdefault(key, {})[camera_id] = FrameTable.build(*columns)
  return detections


def _is_number(text: str) -> bool:
  try:
    float(text)
    return True
  except ValueError:
    return False
