"""Human3.6M -> pair records: every ordered pair of the four cameras at every frame (data_prep/README.md).

One 3D source (3d-pose-baseline .h5 tree, VideoPose3D .npz or official .cdf tree) gives world
3D poses; 2D comes from a detection CSV or a VideoPose3D 2D .npz, or, with neither, from
projecting the 3D with the shipped camera parameters (ground truth 2D: the paper used a
detector). Each record holds the same instant seen by two cameras (anchor, positive), its 2D
normalised by each camera's image size, and the 3D pose (LEGACY_3DH36M17, world mm, stored for
both instances). Splits: `train` (S1, S5, S6, S7, S8) and `val` (S9, S11).
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from data_prep import conversion
from data_prep import h36m_cameras
from data_prep import h36m_sources as sources
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards

DATASET = 'h36m'
TRAIN, VAL = 'train', 'val'
TRAIN_SUBJECTS = ('S1', 'S5', 'S6', 'S7', 'S8')
VAL_SUBJECTS = ('S9', 'S11')
SUBJECT_SETS = {TRAIN: TRAIN_SUBJECTS, VAL: VAL_SUBJECTS, 'all': None}
NUM_CAMERAS = len(h36m_cameras.CAMERA_IDS)


def parse_subjects(text: str) -> Optional[tuple]:
  """'train' | 'val' | 'all' (None: every subject found) | 'S1,S5,...'."""
  if text in SUBJECT_SETS:
    return SUBJECT_SETS[text]
  subjects = tuple(s.strip() for s in text.split(',') if s.strip())
  bad = [s for s in subjects if not sources.SUBJECT_PATTERN.fullmatch(s)]
  if not subjects or bad:
    raise errors.InputError(f"subjects must be train, val, all or names like S1,S5; got {text!r}.")
  return subjects


def split_of(subject: str) -> str:
  return VAL if subject in VAL_SUBJECTS else TRAIN if subject in TRAIN_SUBJECTS else 'other'


@dataclasses.dataclass(frozen=True)
class H36mConfig(conversion.ConversionOptions):
  """Exactly one 3D source (h5_dir, npz_3d or cdf_dir) and at most one 2D source."""
  output_dir: str
  h5_dir: Optional[str] = None
  npz_3d: Optional[str] = None
  cdf_dir: Optional[str] = None
  csv: Optional[str] = None
  npz_2d: Optional[str] = None
  subjects: str = 'all'
  frame_stride: int = 1

  def __post_init__(self):
    given = [name for name in ('h5_dir', 'npz_3d', 'cdf_dir') if getattr(self, name)]
    if len(given) != 1:
      raise errors.InputError(f'Give exactly one 3D source (--h5_dir, --npz_3d or --cdf_dir); got '
                              f'{given or "none"}.')
    if self.csv and self.npz_2d:
      raise errors.InputError('Give at most one 2D source (--csv or --npz_2d).')
    for name in ('csv', 'npz_2d', 'npz_3d'):
      if getattr(self, name) and not os.path.isfile(getattr(self, name)):
        raise FileNotFoundError(f'--{name} file {getattr(self, name)} does not exist.')
    parse_subjects(self.subjects)
    if self.frame_stride < 1 or self.num_workers < 1:
      raise errors.InputError(f'frame_stride and num_workers must be >= 1, got {self.frame_stride} '
                              f'and {self.num_workers}.')

  @property
  def two_d_source(self) -> str:
    if self.csv:
      return f'detections from {self.csv}'
    if self.npz_2d:
      return f'detections from {self.npz_2d}'
    return 'ground truth: 3D projected with the shipped Human3.6M cameras (not a detector)'


def projected_views(poses17: np.ndarray, subject: str) -> dict:
  """{camera id: FrameTable} of the 13 joints projected into each camera (score 1)."""
  joints = poses17[:, keypoints.H36M17_TO_COCO13]
  num = len(joints)
  return {camera.id: sources.FrameTable(
              np.arange(num), np.tile([camera.image_size], (num, 1)),
              h36m_cameras.project_normalized(joints, camera), np.ones(joints.shape[:2]))
          for camera in h36m_cameras.load_cameras()[subject]}


def _pair_example(seq, frame, a, b, views, poses_yxz):
  (table_a, row_a), (table_b, row_b) = views[a], views[b]
  return records.make_example(
      [table_a.image_sizes[row_a], table_b.image_sizes[row_b]],
      np.stack([table_a.points[row_a], table_b.points[row_b]]),
      np.stack([table_a.scores[row_a], table_b.scores[row_b]]),
      keypoints_3d=np.stack([poses_yxz[frame]] * 2),
      metadata={'subject': [seq.subject] * 2, 'subaction': [seq.action] * 2,
                'camera': [a, b], 'frame_index': [frame] * 2,
                'source_id': f'{seq.subject}/{seq.action}'})


def convert_sequence(item) -> conversion.Result:
  """Worker: (Sequence3D, detections {camera: FrameTable} or None, stride) -> pair records."""
  seq, detections, stride = item
  result = conversion.Result()
  poses = seq.poses if seq.poses is not None else sources.read_poses(seq.path)
  poses17 = poses[:, keypoints.H36M32_TO_H36M17]
  poses_yxz = poses17[..., [1, 0, 2]]
  frames = range(0, len(poses), stride)
  if detections is None:
    if seq.subject not in h36m_cameras.load_cameras():
      return result.skip(seq.source, f'no camera parameters for subject {seq.subject}')
    detections = projected_views(poses17, seq.subject)
  missing = 0
  for frame in frames:
    views = {}
    for camera_id in h36m_cameras.CAMERA_IDS:
      row = detections[camera_id].row(frame) if camera_id in detections else None
      if row is not None:
        views[camera_id] = (detections[camera_id], row)
    missing += NUM_CAMERAS - len(views)
    for a in views:
      for b in views:
        if a != b:
          example = _pair_example(seq, frame, a, b, views, poses_yxz)
          result.outputs.append(conversion.Output(records.serialize(example),
                                                  split_of(seq.subject)))
  if missing:
    result.skip(seq.source, f'{missing} of {NUM_CAMERAS * len(frames)} camera-frames have no '
                '2D detection; the pairs that need them are left out')
  return result


def find_sequences(config: H36mConfig):
  if config.h5_dir:
    return sources.find_h5(config.h5_dir)
  if config.cdf_dir:
    return sources.find_cdf(config.cdf_dir)
  return sources.read_videopose3d(config.npz_3d)


def _detections(config, writer, strict):
  def on_bad_row(error):
    if strict:
      raise error
    writer.skip(error.source, error.reason, error.line)
  if config.csv:
    return sources.read_detection_csv(config.csv, on_bad_row)
  if config.npz_2d:
    return sources.read_videopose3d_2d(config.npz_2d)
  return None


def _items(config, writer):
  wanted = parse_subjects(config.subjects)
  detections = _detections(config, writer, config.strict)
  items = []
  for seq in sorted(find_sequences(config), key=lambda s: (s.subject, s.action, s.source)):
    if not seq.subject:
      writer.skip(seq.source, 'no subject (S1, S5, ...) in the path')
    elif wanted is None or seq.subject in wanted:
      if detections is not None and (seq.subject, seq.action) not in detections:
        writer.skip(seq.source, f'no 2D detections for {seq.subject} {seq.action!r}')
        continue
      found = None if detections is None else detections[(seq.subject, seq.action)]
      items.append((seq, found, config.frame_stride))
  if not items:
    raise errors.InputError(f'No sequence to convert for subjects {config.subjects!r}.')
  return items


def convert(config: H36mConfig, log=None) -> dict:
  """Writes the pair records and manifest; returns the manifest."""
  source = config.h5_dir or config.npz_3d or config.cdf_dir
  writer = shards.DatasetWriter(config.output_dir, DATASET,
                                sources=[os.path.abspath(p) for p in
                                         (source, config.csv, config.npz_2d) if p],
                                records_per_shard=config.records_per_shard,
                                overwrite=config.overwrite)
  try:
    items = _items(config, writer)
    # One sequence per task: a sequence's records are tens of megabytes.
    conversion.run(convert_sequence, items, writer, DATASET, config.num_workers, config.strict,
                   chunk_size=1, log=log, unit='sequences')
  except BaseException:
    writer.abort()
    raise
  return writer.close({
      'profile_2d': keypoints.LEGACY_2DCOCO13, 'profile_3d': keypoints.LEGACY_3DH36M17,
      'unit_3d': 'mm, world coordinates', 'two_d_source': config.two_d_source,
      'camera_ids': list(h36m_cameras.CAMERA_IDS), 'frame_stride': config.frame_stride,
      'subjects': config.subjects,
      'split_subjects': {TRAIN: list(TRAIN_SUBJECTS), VAL: list(VAL_SUBJECTS)}})
