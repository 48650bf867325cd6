"""NTU RGB+D skeletons -> sequence records and cross-view pair records (data_prep/README.md).

`convert(config)` writes, under the output directory,
  sequences/  one sequence record per file: the main actor's Kinect colour-image 2D,
              replayed to 300 frames, shards `<split>-<view>-*` (views C1R1 ... C3R2);
  pairs/      pair records: the same instant seen by two of the three cameras that filmed
              at once (files equal in S, P, R, A), with 3D in each camera's space (3DSTD13).
Each with a manifest.json. Only the single-person classes A1-A49 are converted (label A - 1);
the official samples with missing skeletons are skipped, as is any malformed file.
"""

import dataclasses
import os
import numpy as np

from data_prep import conversion
from data_prep import ntu_skeleton as skeleton
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards

DATASET = 'ntu_rgbd'
SEQUENCES, PAIRS = 'sequences', 'pairs'
MODES = {SEQUENCES: (SEQUENCES,), PAIRS: (PAIRS,), 'both': (SEQUENCES, PAIRS)}
XSUB, XVIEW = 'xsub', 'xview'
TRAIN, TEST = 'train', 'test'
# Sequence length after replay padding (the paper's padding for NTU).
SEQUENCE_LENGTH = 300
# Kinect v2 colour image (the colorX / colorY fields are its pixels).
IMAGE_HEIGHT, IMAGE_WIDTH = 1080, 1920
NUM_CLASSES = 49  # single-person actions A1-A49
CLASSES = tuple(f'A{action:03d}' for action in range(1, NUM_CLASSES + 1))
VIEWS = tuple(f'C{c}R{r}' for c in (1, 2, 3) for r in (1, 2))
# Cross-subject training performers and cross-view training cameras (the dataset's paper).
XSUB_TRAIN_PERFORMERS = frozenset(
    (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
XVIEW_TRAIN_CAMERAS = frozenset((2, 3))
# The joint fields the records are made of (x y z, colorX colorY, tracking state); the parser
# converts only these (depth pixels and orientation stay NaN).
JOINT_FIELDS_READ = (0, 1, 2, skeleton.FIELD_COLOR_X, skeleton.FIELD_COLOR_Y,
                     skeleton.FIELD_TRACKING)
# Score of a joint by Kinect tracking state: 0 not tracked, 1 inferred, 2 tracked.
TRACKING_SCORES = np.array([0.0, 0.5, 1.0], np.float32)
MISSING_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data',
                            'ntu_rgbd_missing_skeletons.txt')


@dataclasses.dataclass(frozen=True)
class NtuConfig(conversion.ConversionOptions):
  """What to convert and how. `pair_frame_stride` thins pair records only."""
  input_dir: str
  output_dir: str
  mode: str = SEQUENCES
  benchmark: str = XSUB
  missing_list: str = MISSING_LIST
  pair_frame_stride: int = 1

  def __post_init__(self):
    if self.mode not in MODES:
      raise errors.InputError(f'mode must be one of {sorted(MODES)}, got {self.mode!r}.')
    if self.benchmark not in (XSUB, XVIEW):
      raise errors.InputError(f'benchmark must be {XSUB!r} or {XVIEW!r}, got {self.benchmark!r}.')
    if self.pair_frame_stride < 1 or self.num_workers < 1:
      raise errors.InputError(f'pair_frame_stride and num_workers must be >= 1, got '
                              f'{self.pair_frame_stride} and {self.num_workers}.')
    if not os.path.isfile(self.missing_list):
      raise FileNotFoundError(f'Missing-skeleton list {self.missing_list} does not exist.')


def split_of(name: skeleton.SampleName, benchmark: str) -> str:
  if benchmark == XSUB:
    return TRAIN if name.performer in XSUB_TRAIN_PERFORMERS else TEST
  return TRAIN if name.camera in XVIEW_TRAIN_CAMERAS else TEST


def keypoints_2d(joints: np.ndarray):
  """(y, x) normalised by the colour image size [T, 13, 2] and scores [T, 13]."""
  chosen = joints[:, keypoints.NTU25_TO_COCO13]
  points = keypoints.to_unit(np.stack([chosen[..., skeleton.FIELD_COLOR_Y],
                                       chosen[..., skeleton.FIELD_COLOR_X]], axis=-1),
                             [IMAGE_HEIGHT, IMAGE_WIDTH])
  states = np.clip(chosen[..., skeleton.FIELD_TRACKING].astype(np.int64), 0, 2)
  # Kinect writes colour (0, 0) for a joint it could not project into the colour image: such a
  # joint is not seen, whatever its tracking state says.
  unprojected = _unprojected(chosen)
  return points, np.where(unprojected, 0.0, TRACKING_SCORES[states])


def _unprojected(joints: np.ndarray) -> np.ndarray:
  """[...] bool: joints whose colour coordinates are both 0."""
  return (joints[..., skeleton.FIELD_COLOR_X] == 0) & (joints[..., skeleton.FIELD_COLOR_Y] == 0)


def fill_unprojected_frames(joints: np.ndarray):
  """(joints, None) with every frame in which no joint of the 13 has colour coordinates filled
  from the nearest frame that has them (their scores stay 0: `keypoints_2d`), or (None, a skip
  reason) when no frame has any."""
  seen = ~np.all(_unprojected(joints[:, keypoints.NTU25_TO_COCO13]), axis=-1)
  if not seen.any():
    return None, ('the main actor has no colour-image coordinates (colorX and colorY are 0 in '
                  'every frame): no 2D pose to record')
  if seen.all():
    return joints, None
  frames = np.flatnonzero(seen)
  nearest = frames[np.abs(np.arange(len(joints))[:, None] - frames[None]).argmin(axis=-1)]
  filled = joints.copy()
  colour = [skeleton.FIELD_COLOR_X, skeleton.FIELD_COLOR_Y]
  filled[:, :, colour] = joints[nearest][:, :, colour]
  filled[~seen, :, skeleton.FIELD_TRACKING] = 0  # filled, not seen
  return filled, None


def keypoints_3d(joints: np.ndarray) -> np.ndarray:
  """Camera-space 3D of the 13 3DSTD13 joints in (y, x, z) order: [T, 13, 3]."""
  xyz = joints[:, keypoints.NTU25_TO_COCO13, skeleton.FIELDS_XYZ]
  return xyz[..., [1, 0, 2]]


def sequence_record(name: skeleton.SampleName, joints: np.ndarray) -> bytes:
  """One clip of one view, replayed from its start to SEQUENCE_LENGTH frames (or cut)."""
  num_frames = len(joints)
  frames = np.arange(SEQUENCE_LENGTH) % num_frames
  points, scores = keypoints_2d(joints[frames])
  sizes = np.tile([[IMAGE_HEIGHT, IMAGE_WIDTH]], (SEQUENCE_LENGTH, 1))
  return records.serialize(records.make_example(
      sizes, points, scores, labels=[name.action - 1],
      metadata={'subject': f'P{name.performer:03d}', 'view': name.view,
                'camera': f'C{name.camera:03d}', 'subaction': f'R{name.replication:03d}',
                'num_frames': min(num_frames, SEQUENCE_LENGTH), 'source_id': name.stem}))


def _main_actor(path):
  """Joints [T, 25, 12] of the file's main actor, or a skip reason."""
  parsed = skeleton.read_skeleton(path, JOINT_FIELDS_READ)
  if parsed.num_frames == 0:
    return None, 'the file declares 0 frames'
  try:
    joints = skeleton.main_actor(parsed)[1]
  except ValueError as error:
    return None, str(error)
  return fill_unprojected_frames(joints)


def convert_sequence_file(item) -> conversion.Result:
  """Worker: (path, benchmark) -> one sequence record (or a skip)."""
  path, benchmark = item
  name = skeleton.parse_name(path)
  result = conversion.Result()
  joints, reason = _main_actor(path)
  if joints is None:
    return result.skip(path, reason)
  result.outputs.append(conversion.Output(sequence_record(name, joints),
                                          split_of(name, benchmark), name.view,
                                          (name.action - 1,)))
  return result


def pair_split(names, benchmark: str) -> str:
  if benchmark == XSUB:
    return split_of(names[0], XSUB)
  return TRAIN if all(n.camera in XVIEW_TRAIN_CAMERAS for n in names) else TEST


@dataclasses.dataclass
class _CameraView:
  """One camera's file of a motion, cut to the common length."""
  name: skeleton.SampleName
  points: np.ndarray  # [T, 13, 2]
  scores: np.ndarray  # [T, 13]
  points_3d: np.ndarray  # [T, 13, 3]


def _camera_views(paths, result):
  """The main actor of each readable file, truncated to the shortest; skips the others."""
  found = []
  for path in paths:
    try:
      joints, reason = _main_actor(path)
    except conversion.MalformedInput as error:
      result.skip_malformed(error)
      continue
    if joints is None:
      result.skip(path, reason)
    else:
      found.append((skeleton.parse_name(path), joints))
  length = min((len(joints) for _, joints in found), default=0)
  return [_CameraView(name, *keypoints_2d(joints[:length]), keypoints_3d(joints[:length]))
          for name, joints in found]


def _pair_example(a: _CameraView, b: _CameraView, frame: int) -> bytes:
  motion = a.name
  return records.serialize(records.make_example(
      [[IMAGE_HEIGHT, IMAGE_WIDTH]] * 2, np.stack([a.points[frame], b.points[frame]]),
      np.stack([a.scores[frame], b.scores[frame]]),
      keypoints_3d=np.stack([a.points_3d[frame], b.points_3d[frame]]),
      profile_3d=keypoints.STD_3D13,
      metadata={'subject': [f'P{motion.performer:03d}'] * 2,
                'camera': [f'C{a.name.camera:03d}', f'C{b.name.camera:03d}'],
                'view': [a.name.view, b.name.view], 'frame_index': [frame] * 2,
                'subaction': [f'R{motion.replication:03d}'] * 2,
                'source_id': (f'S{motion.setup:03d}P{motion.performer:03d}'
                              f'R{motion.replication:03d}A{motion.action:03d}')}))


def convert_pair_group(item) -> conversion.Result:
  """Worker: (paths of one motion seen by several cameras, benchmark, stride) -> pairs.

  Frames are aligned by index and the clips truncated to the shortest; every ordered pair of
  cameras gives a record per `stride`-th frame.
  """
  paths, benchmark, stride = item
  result = conversion.Result()
  views = _camera_views(paths, result)
  if len(views) < 2:
    return result
  for frame in range(0, len(views[0].points), stride):
    for a in views:
      for b in views:
        if a is not b:
          result.outputs.append(conversion.Output(
              _pair_example(a, b, frame), pair_split((a.name, b.name), benchmark)))
  return result


def select_files(config: NtuConfig, writer_skip):
  """The convertible files (sorted), calling `writer_skip(source, reason)` for the others."""
  files = conversion.list_inputs(config.input_dir, '*' + skeleton.FILE_SUFFIX,
                                 'NTU RGB+D .skeleton files')
  missing = skeleton.read_name_list(config.missing_list)
  kept = []
  for path in files:
    try:
      name = skeleton.parse_name(path)
    except ValueError as error:
      writer_skip(path, str(error))
      continue
    if name.stem in missing:
      writer_skip(path, f'listed in {os.path.basename(config.missing_list)} (missing '
                  'skeletons)')
    elif not 1 <= name.action <= NUM_CLASSES:
      writer_skip(path, f'action A{name.action:03d} is not a single-person class '
                  f'(A001-A{NUM_CLASSES:03d})')
    else:
      kept.append((path, name))
  return kept


def _groups(kept, benchmark, stride):
  by_motion = {}
  for path, name in kept:
    by_motion.setdefault(name.motion_key, []).append(path)
  return [(tuple(paths), benchmark, stride) for _, paths in sorted(by_motion.items())]


def _convert_part(config, part, log):
  directory = os.path.join(config.output_dir, part)
  writer = shards.DatasetWriter(
      directory, DATASET, classes=CLASSES if part == SEQUENCES else None,
      views=VIEWS if part == SEQUENCES else None, sources=[os.path.abspath(config.input_dir)],
      records_per_shard=config.records_per_shard, overwrite=config.overwrite)
  try:
    kept = select_files(config, writer.skip)
    if part == SEQUENCES:
      items = [(path, config.benchmark) for path, _ in kept]
      function, unit = convert_sequence_file, 'files'
    else:
      items = _groups(kept, config.benchmark, config.pair_frame_stride)
      function, unit = convert_pair_group, 'motions'
    conversion.run(function, items, writer, f'{DATASET}/{part}', config.num_workers,
                   config.strict, log=log, unit=unit)
  except BaseException:
    writer.abort()
    raise
  return writer.close(_manifest_extra(config, part))


def _manifest_extra(config, part):
  extra = {'part': part, 'benchmark': config.benchmark,
           'missing_list': os.path.abspath(config.missing_list),
           'image_size': [IMAGE_HEIGHT, IMAGE_WIDTH], 'profile_2d': keypoints.LEGACY_2DCOCO13,
           'two_d_source': 'Kinect colour-image projection (colorX, colorY), not a detector'}
  if part == SEQUENCES:
    extra['sequence_length'] = SEQUENCE_LENGTH
  else:
    extra.update(profile_3d=keypoints.STD_3D13, pair_frame_stride=config.pair_frame_stride)
  return extra


def convert(config: NtuConfig, log=None) -> dict:
  """Converts what `config.mode` asks for; returns {part: manifest}."""
  return {part: _convert_part(config, part, log) for part in MODES[config.mode]}

