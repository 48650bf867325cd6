"""MPI-INF-3DHP -> pair records (training sequences) and sequence records (test set)
(data_prep/README.md, "MPI-INF-3DHP").

Training: `<input_dir>/S<s>/Seq<q>/annot.mat` (MATLAB v5) holds, per camera (14 cells),
`annot2` [N, 28 x 2] pixels and `annot3` [N, 28 x 3] camera-space millimetres, with `frames`
[N, 1] and `cameras` [1, 14]; the same folder's `camera.calibration` gives each camera's image
`size` (width height). Every `frame_stride`-th frame becomes one pair record per ordered pair of
the chosen cameras, each view with its camera's 2D and 3D; the subjects in `heldout_subjects` go
to the `test` split, the others to `train`.

Test set: `<test_dir>/TS<n>/annot_data.mat` (MATLAB v7.3, i.e. HDF5, arrays stored transposed)
holds `annot2` [N, 1, 17, 2], `annot3` [N, 1, 17, 3] and `valid_frame` [N, 1] for one camera;
its valid frames become sequence records of `clip_length` frames (split `test`, view `TS<n>`),
with 3D: what `evaluate_lifting --sequences` and `evaluate_retrieval --sequences` read.

The 28 (training) and 17 (test) joints are mapped by name to `LEGACY_3DH36M17` (3DHP's
`head_top` is Human3.6M's Head, `head` its Neck/Nose, `neck` its Thorax, `spine` its Spine,
ankles its feet) and, through it, to the 13 2D joints (Head for the nose).
"""

import dataclasses
import os
import re
from typing import Sequence

import numpy as np

from data_prep import conversion
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards

DATASET = 'mpi_inf_3dhp'
TRAIN, TEST = 'train', 'test'
NUM_CAMERAS = 14
# The cameras at chest and knee height that most work trains on (not the ceiling cameras).
DEFAULT_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)
# The 28 training joints in `annot.mat` order.
TRAIN_JOINTS = (
    'spine3', 'spine4', 'spine2', 'spine', 'pelvis', 'neck', 'head', 'head_top', 'left_clavicle',
    'left_shoulder', 'left_elbow', 'left_wrist', 'left_hand', 'right_clavicle', 'right_shoulder',
    'right_elbow', 'right_wrist', 'right_hand', 'left_hip', 'left_knee', 'left_ankle',
    'left_foot', 'left_toe', 'right_hip', 'right_knee', 'right_ankle', 'right_foot', 'right_toe')
# The 17 test-set joints in `annot_data.mat` order.
TEST_JOINTS = (
    'head_top', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder',
    'left_elbow', 'left_wrist', 'right_hip', 'right_knee', 'right_ankle', 'left_hip',
    'left_knee', 'left_ankle', 'pelvis', 'spine', 'head')
# LEGACY_3DH36M17 joint -> 3DHP joint name.
_TO_H36M17 = {
    'Hip': 'pelvis', 'Head': 'head_top', 'Neck/Nose': 'head', 'Thorax': 'neck',
    'LShoulder': 'left_shoulder', 'RShoulder': 'right_shoulder', 'LElbow': 'left_elbow',
    'RElbow': 'right_elbow', 'LWrist': 'left_wrist', 'RWrist': 'right_wrist', 'Spine': 'spine',
    'LHip': 'left_hip', 'RHip': 'right_hip', 'LKnee': 'left_knee', 'RKnee': 'right_knee',
    'LFoot': 'left_ankle', 'RFoot': 'right_ankle'}
_H36M17 = keypoints.get_profile(keypoints.LEGACY_3DH36M17).keypoint_names
TRAIN_TO_H36M17 = tuple(TRAIN_JOINTS.index(_TO_H36M17[n]) for n in _H36M17)
TEST_TO_H36M17 = tuple(TEST_JOINTS.index(_TO_H36M17[n]) for n in _H36M17)
# Test-set image sizes (height, width): TS1-TS4 studio, TS5-TS6 outdoor video.
TEST_IMAGE_SIZES = {1: (2048, 2048), 2: (2048, 2048), 3: (2048, 2048), 4: (2048, 2048),
                    5: (1080, 1920), 6: (1080, 1920)}


@dataclasses.dataclass(frozen=True)
class MpiInf3dhpConfig(conversion.ConversionOptions):
  output_dir: str
  input_dir: str = ''  # the training tree (S1..S8)
  test_dir: str = ''  # mpi_inf_3dhp_test_set (TS1..TS6)
  cameras: Sequence[int] = DEFAULT_CAMERAS
  heldout_subjects: Sequence[str] = ('S8',)
  frame_stride: int = 10
  clip_length: int = 250

  def __post_init__(self):
    if not self.input_dir and not self.test_dir:
      raise errors.InputError('Give the training tree (--input_dir), the test set (--test_dir) '
                              'or both.')
    bad = [c for c in self.cameras if not 0 <= int(c) < NUM_CAMERAS]
    if bad or len(set(self.cameras)) < 2:
      raise errors.InputError(f'cameras must be at least two distinct numbers in 0-'
                              f'{NUM_CAMERAS - 1}, got {list(self.cameras)}.')
    if self.frame_stride < 1 or self.clip_length < 2 or self.num_workers < 1:
      raise errors.InputError('frame_stride and num_workers must be >= 1 and clip_length >= 2.')


def _h36m17_to_2d(poses17):
  return poses17[..., keypoints.H36M17_TO_COCO13, :]


def read_calibration(path: str) -> dict:
  """{camera number: (height, width)} from a Skeletool `camera.calibration` file."""
  sizes, camera = {}, None
  try:
    with open(path) as f:
      lines = f.read().splitlines()
  except OSError as error:
    raise conversion.MalformedInput(path, f'cannot be read ({error.strerror})') from None
  for number, line in enumerate(lines, start=1):
    fields = line.split()
    if fields[:1] == ['name']:
      if len(fields) != 2 or not fields[1].isdigit():
        raise conversion.MalformedInput(path, f'bad camera name line {line.strip()!r}', number)
      camera = int(fields[1])
    elif fields[:1] == ['size']:
      if camera is None or len(fields) != 3:
        raise conversion.MalformedInput(path, f'bad size line {line.strip()!r}', number)
      try:
        width, height = int(fields[1]), int(fields[2])
      except ValueError:
        raise conversion.MalformedInput(path, f'bad size line {line.strip()!r}', number) from None
      sizes[camera] = (height, width)
  if not sizes:
    raise conversion.MalformedInput(path, 'no camera with a size')
  return sizes


def read_training_sequence(path: str) -> tuple:
  """(frames [N], 2D [14, N, 28, 2] (x, y) pixels, 3D [14, N, 28, 3] mm) of an annot.mat."""
  import scipy.io  # pylint: disable=g-import-not-at-top
  try:
    data = scipy.io.loadmat(path)
  except (ValueError, OSError, TypeError) as error:
    raise conversion.MalformedInput(path, f'not a MATLAB file ({error})') from None
  missing = [k for k in ('annot2', 'annot3', 'frames') if k not in data]
  if missing:
    raise conversion.MalformedInput(path, f'lacks {", ".join(missing)}')
  frames = np.asarray(data['frames']).reshape(-1).astype(np.int64)
  cells = {}
  for key, dim in (('annot2', 2), ('annot3', 3)):
    cell = np.asarray(data[key]).reshape(-1)
    if len(cell) != NUM_CAMERAS:
      raise conversion.MalformedInput(path, f'{key} has {len(cell)} cameras, expected '
                                      f'{NUM_CAMERAS}')
    arrays = []
    for camera, values in enumerate(cell):
      values = np.asarray(values, np.float64)
      if values.shape != (len(frames), len(TRAIN_JOINTS) * dim):
        raise conversion.MalformedInput(path, f'{key} of camera {camera} has shape '
                                        f'{values.shape}, expected ({len(frames)}, '
                                        f'{len(TRAIN_JOINTS) * dim})')
      arrays.append(values.reshape(len(frames), len(TRAIN_JOINTS), dim))
    cells[key] = np.stack(arrays)
  return frames, cells['annot2'], cells['annot3']


def convert_training_sequence(item) -> conversion.Result:
  """Worker: (sequence directory, subject, cameras, frame stride, split) -> pair records."""
  directory, subject, cameras, stride, split = item
  sizes = read_calibration(os.path.join(directory, 'camera.calibration'))
  frames, points_2d, points_3d = read_training_sequence(os.path.join(directory, 'annot.mat'))
  absent = [c for c in cameras if c not in sizes]
  if absent:
    raise conversion.MalformedInput(os.path.join(directory, 'camera.calibration'),
                                    f'no size for cameras {absent}')
  poses_2d = _h36m17_to_2d(points_2d[:, :, TRAIN_TO_H36M17])[..., ::-1]  # (y, x)
  poses_3d = points_3d[:, :, TRAIN_TO_H36M17][..., [1, 0, 2]]  # (y, x, z) as records store it
  result = conversion.Result()
  clip = os.path.relpath(directory, os.path.dirname(os.path.dirname(directory)))
  scores = np.ones(len(keypoints.H36M17_TO_COCO13))
  for row in range(0, len(frames), stride):
    for a in cameras:
      for b in cameras:
        if a == b:
          continue
        image_sizes = np.array([sizes[a], sizes[b]])
        points = np.stack([poses_2d[a, row], poses_2d[b, row]]) / image_sizes[:, None]
        result.outputs.append(conversion.Output(records.serialize(records.make_example(
            image_sizes, points, np.stack([scores, scores]),
            keypoints_3d=np.stack([poses_3d[a, row], poses_3d[b, row]]),
            profile_3d=keypoints.LEGACY_3DH36M17,
            metadata={'subject': [subject] * 2, 'camera': [f'cam{a}', f'cam{b}'],
                      'frame_index': [int(frames[row])] * 2, 'source_id': clip})), split))
  return result


def read_test_sequence(path: str) -> tuple:
  """(valid [N] bool, 2D [N, 17, 2] (x, y) pixels, 3D [N, 17, 3] mm) of an annot_data.mat."""
  import h5py  # pylint: disable=g-import-not-at-top
  try:
    with h5py.File(path, 'r') as f:
      missing = [k for k in ('annot2', 'annot3', 'valid_frame') if k not in f]
      if missing:
        raise conversion.MalformedInput(path, f'lacks {", ".join(missing)}')
      # MATLAB v7.3 stores arrays column-major: h5py sees the axes reversed.
      annot2, annot3 = np.asarray(f['annot2']).T, np.asarray(f['annot3']).T
      valid = np.asarray(f['valid_frame']).T.reshape(-1) > 0
  except OSError as error:
    raise conversion.MalformedInput(path, f'not a MATLAB v7.3 (HDF5) file ({error})') from None
  n = len(valid)
  if annot2.shape != (n, 1, len(TEST_JOINTS), 2) or annot3.shape != (n, 1, len(TEST_JOINTS), 3):
    raise conversion.MalformedInput(path, f'annot2 {annot2.shape} / annot3 {annot3.shape} do not '
                                    f'match {n} frames of {len(TEST_JOINTS)} joints')
  return valid, annot2[:, 0], annot3[:, 0]


def convert_test_sequence(item) -> conversion.Result:
  """Worker: (TS directory, clip length, frame stride) -> sequence records of its valid frames."""
  directory, length, stride = item
  name = os.path.basename(os.path.normpath(directory))
  number = int(name[2:])
  valid, points_2d, points_3d = read_test_sequence(os.path.join(directory, 'annot_data.mat'))
  kept = np.flatnonzero(valid)[::stride]
  result = conversion.Result()
  if not len(kept):
    return result.skip(directory, 'no valid frame')
  size = np.array(TEST_IMAGE_SIZES[number])
  poses_2d = _h36m17_to_2d(points_2d[:, TEST_TO_H36M17])[..., ::-1] / size
  poses_3d = points_3d[:, TEST_TO_H36M17][..., [1, 0, 2]]
  for start in range(0, len(kept), length):
    rows = kept[start:start + length]
    padded = np.concatenate([rows, np.repeat(rows[-1:], length - len(rows))])  # replayed
    scores = np.ones((length, len(keypoints.H36M17_TO_COCO13)))
    result.outputs.append(conversion.Output(records.serialize(records.make_example(
        np.tile(size, (length, 1)), poses_2d[padded], scores, keypoints_3d=poses_3d[padded],
        profile_3d=keypoints.LEGACY_3DH36M17, labels=[0],
        metadata={'view': name, 'camera': name, 'num_frames': len(rows), 'subject': name,
                  'source_id': f'{name}_{start // length:04d}_{name}'})), TEST, name, (0,)))
  return result


def _training_items(config):
  found = conversion.list_inputs(config.input_dir, os.path.join('S*', 'Seq*', 'annot.mat'),
                                 'MPI-INF-3DHP training tree S<s>/Seq<q>/annot.mat')
  items = []
  for path in found:
    directory = os.path.dirname(path)
    subject = os.path.basename(os.path.dirname(directory))
    split = TEST if subject in config.heldout_subjects else TRAIN
    items.append((directory, subject, tuple(int(c) for c in config.cameras),
                  config.frame_stride, split))
  return items


def _test_items(config):
  found = conversion.list_inputs(config.test_dir, os.path.join('TS*', 'annot_data.mat'),
                                 'MPI-INF-3DHP test set TS<n>/annot_data.mat')
  items = []
  for path in found:
    directory = os.path.dirname(path)
    name = os.path.basename(directory)
    if not re.fullmatch(r'TS[1-6]', name):
      raise errors.InputError(f'{directory}: test sequences are TS1-TS6.')
    items.append((directory, config.clip_length, config.frame_stride))
  return items


def convert(config: MpiInf3dhpConfig, log=None) -> dict:
  """Converts what is given; returns {part: manifest} ('pairs' and/or 'test_sequences', each
  its own directory under `output_dir`)."""
  parts = {}
  jobs = []
  if config.input_dir:
    jobs.append(('pairs', _training_items(config), convert_training_sequence, 'sequences', {
        'profile_2d': keypoints.LEGACY_2DCOCO13, 'profile_3d': keypoints.LEGACY_3DH36M17,
        'cameras': [int(c) for c in config.cameras], 'frame_stride': config.frame_stride,
        'heldout_subjects': list(config.heldout_subjects),
        'two_d_source': 'annot2 (ground truth), score 1; 3D: annot3, camera space, mm'}))
  if config.test_dir:
    jobs.append(('test_sequences', _test_items(config), convert_test_sequence, 'sequences', {
        'sequence_length': config.clip_length, 'profile_2d': keypoints.LEGACY_2DCOCO13,
        'profile_3d': keypoints.LEGACY_3DH36M17, 'frame_stride': config.frame_stride,
        'two_d_source': 'annot2 of the valid frames (ground truth), score 1'}))
  for part, items, worker, unit, extra in jobs:
    sources = config.input_dir if part == 'pairs' else config.test_dir
    writer = shards.DatasetWriter(
        os.path.join(config.output_dir, part), f'{DATASET}_{part}',
        classes=None if part == 'pairs' else ('unlabelled',),
        sources=[os.path.abspath(sources)], records_per_shard=config.records_per_shard,
        overwrite=config.overwrite)
    try:
      conversion.run(worker, items, writer, f'{DATASET}/{part}', config.num_workers,
                     config.strict, log=log, unit=unit)
    except BaseException:
      writer.abort()
      raise
    parts[part] = writer.close(extra)
  return parts
