"""The synthetic multi-view action set (data_prep/README.md), the embedded default data.

`generate(config, output_dir)` writes these record directories, each with a manifest.json:
  pairs/      pair records (docs/records.md) with 3D, from the training subjects, split `train`: the
              class programs' clips and the broad pose prior's (`broad_clips_per_subject`);
  penn_like/  sequence records (docs/records.md): every clip seen from front, back, left and right;
  ntu_like/   sequence records: three cameras x two replications (views C1R1 ... C3R2);
  heldout_motion/, broad_motion/  (when `retrieval_clips_per_family` > 0) sequence records of
              the test subjects for retrieval on motion no encoder saw: the held-out programs
              (HELDOUT_ACTIONS) and new broad-prior clips, each seen by four cameras at the
              subject's front-left, back-left, back-right and front-right (split `test`),
              with the world 3D poses (for the NP-MPJPE hit criterion).
Sequence shards are named `<split>-<view>-NNNNN-of-NNNNN.tfrecord`, splits `train`/`test` by
subject. The output depends only on the flags: one seed gives identical bytes.
"""

import dataclasses
import os
import time

import numpy as np

from data_prep import synthetic_motion as motion
from data_prep import synthetic_views as views
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards

PAIRS_DIR = 'pairs'
TRAIN, TEST = 'train', 'test'
# Stream ids that keep the random draws of each part independent of the others.
_STREAM_BONES, _STREAM_CLIPS, _STREAM_PAIRS, _STREAM_BROAD, _STREAM_RETRIEVAL = 0, 1, 2, 3, 4
HELDOUT_DIR, BROAD_DIR = 'heldout_motion', 'broad_motion'
RETRIEVAL_PARTS = (HELDOUT_DIR, BROAD_DIR)
# The retrieval parts' cameras: azimuth relative to the subject's facing (degrees, jittered
# by PENN_AZIMUTH_JITTER like the penn-like views), so that a camera name means the same view
# in every clip (z_v's same-camera check needs that).
RETRIEVAL_VIEWS = {'front_left': 45.0, 'back_left': 135.0, 'back_right': -135.0,
                   'front_right': -45.0}
_NUM_CAMERA_PAIRS = len(views.PAIR_CAMERAS) * (len(views.PAIR_CAMERAS) - 1)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """What to generate. `smoke_config()` is the tiny twin the tests use."""
  seed: int = 0
  num_subjects: int = 8
  num_test_subjects: int = 2
  num_classes: int = 10
  clips_per_class: int = 4  # Performances per subject, class and view set.
  view_sets: tuple = views.VIEW_SETS
  sequence_length: int = motion.CLIP_LENGTH_RANGE[1]
  pair_frame_stride: int = 2
  pairs_per_frame: int = 1
  # Broad-prior clips per training subject in the pair records (0: the class programs only).
  broad_clips_per_subject: int = 24
  # Clips per held-out program and test subject in heldout_motion/ (and as many broad-prior
  # clips in all per test subject in broad_motion/); 0 writes neither.
  retrieval_clips_per_family: int = 2
  records_per_shard: int = shards.DEFAULT_RECORDS_PER_SHARD

  def __post_init__(self):
    if self.num_subjects < 2:
      raise errors.InputError(f'num_subjects must be at least 2 (train and test), got '
                              f'{self.num_subjects}.')
    if not 1 <= self.num_test_subjects < self.num_subjects:
      raise errors.InputError(f'num_test_subjects must be in [1, {self.num_subjects - 1}], got '
                              f'{self.num_test_subjects}.')
    if not 2 <= self.num_classes <= len(motion.ACTIONS):
      raise errors.InputError(f'num_classes must be in [2, {len(motion.ACTIONS)}], got '
                              f'{self.num_classes}.')
    if self.clips_per_class < 2:
      raise errors.InputError(f'clips_per_class must be at least 2 (one per NTU-like replication), '
                              f'got {self.clips_per_class}.')
    unknown = set(self.view_sets) - set(views.VIEW_SETS)
    if unknown or not self.view_sets:
      raise errors.InputError(f'view_sets {list(self.view_sets)} invalid; choose from '
                              f'{list(views.VIEW_SETS)}.')
    if self.sequence_length < motion.CLIP_LENGTH_RANGE[1]:
      raise errors.InputError(f'sequence_length must be at least the longest clip '
                              f'({motion.CLIP_LENGTH_RANGE[1]}), got {self.sequence_length}.')
    if self.pair_frame_stride < 1 or not 1 <= self.pairs_per_frame <= _NUM_CAMERA_PAIRS:
      raise errors.InputError(f'pair_frame_stride must be >= 1 and pairs_per_frame in [1, '
                              f'{_NUM_CAMERA_PAIRS}], got {self.pair_frame_stride} and '
                              f'{self.pairs_per_frame}.')
    if self.broad_clips_per_subject < 0 or self.retrieval_clips_per_family < 0:
      raise errors.InputError('broad_clips_per_subject and retrieval_clips_per_family must be >= '
                              f'0, got {self.broad_clips_per_subject} and '
                              f'{self.retrieval_clips_per_family}.')

  @property
  def classes(self) -> tuple:
    return motion.ACTION_NAMES[:self.num_classes]

  def split_of(self, subject: int) -> str:
    return TEST if subject >= self.num_subjects - self.num_test_subjects else TRAIN


def smoke_config(**overrides) -> SyntheticConfig:
  """A few seconds of data: 3 subjects, 4 classes, 2 clips each."""
  values = dict(num_subjects=3, num_test_subjects=1, num_classes=4, clips_per_class=2,
                pair_frame_stride=8, pairs_per_frame=1, broad_clips_per_subject=1,
                retrieval_clips_per_family=1, records_per_shard=40)
  values.update(overrides)
  return SyntheticConfig(**values)


def subject_name(subject: int) -> str:
  return f'S{subject + 1:02d}'


def _rng(config, *stream):
  return np.random.default_rng([config.seed, *stream])


def performances(config: SyntheticConfig, view_set_index: int):
  """Yields (clip, replication, {view: Camera}) in a fixed order for one view set."""
  view_set = config.view_sets[view_set_index]
  for subject in range(config.num_subjects):
    bones = motion.subject_bones(_rng(config, _STREAM_BONES, subject))
    for label in range(config.num_classes):
      for index in range(config.clips_per_class):
        rng = _rng(config, _STREAM_CLIPS, view_set_index, subject, label, index)
        replication = index % len(views.NTU_FACING) + 1
        facing, cameras = views.view_cameras(view_set, rng, replication)
        yield motion.sample_clip(subject, bones, label, facing, rng), index, cameras


def clip_name(clip, index, family='A') -> str:
  """`S01_A03_002`: subject, program (A: class, H: held-out) and performance; `S01_B_002` for
  a broad-prior clip."""
  if clip.label == motion.BROAD:
    return f'{subject_name(clip.subject)}_B_{index:03d}'
  return f'{subject_name(clip.subject)}_{family}{clip.label + 1:02d}_{index:03d}'


def sequence_example(config, clip, index, view, camera, rng, family='A', with_3d=False):
  """One sequence record: the clip seen by one camera, replayed to the fixed length (with its
  world 3D poses in (y, x, z) when `with_3d`)."""
  keypoints_2d, scores = views.detect(clip.joints_xyz, camera, rng)
  num_frames = len(keypoints_2d)
  frames = np.arange(config.sequence_length) % num_frames  # replay from the start
  sizes = np.tile([[views.IMAGE_HEIGHT, views.IMAGE_WIDTH]], (config.sequence_length, 1))
  source = clip_name(clip, index, family)
  return records.make_example(
      sizes, keypoints_2d[frames], scores[frames],
      keypoints_3d=motion.to_yxz(clip.joints_xyz)[frames] if with_3d else None,
      labels=[max(clip.label, 0)],
      metadata={'subject': subject_name(clip.subject), 'view': view, 'camera': view,
                'num_frames': num_frames, 'source_id': f'{source}_{view}'})


def write_sequences(config, view_set_index, directory, overwrite):
  view_set = config.view_sets[view_set_index]
  writer = shards.DatasetWriter(directory, f'synthetic_{view_set}', classes=config.classes,
                                views=views.view_names(view_set), sources=['generated'],
                                records_per_shard=config.records_per_shard,
                                overwrite=overwrite)
  for clip, index, cameras in performances(config, view_set_index):
    for view, camera in cameras.items():
      rng = _rng(config, _STREAM_CLIPS, view_set_index, clip.subject, clip.label, index,
                 views.view_names(view_set).index(view) + 1)
      example = sequence_example(config, clip, index, view, camera, rng)
      writer.write(records.serialize(example), config.split_of(clip.subject), view,
                   [clip.label])
  return writer.close(_manifest_extra(config, view_set))


def pair_cameras(config, clip, index):
  """([Camera] x 4, the clip's pair generator after drawing them): the pair records' cameras."""
  if clip.label == motion.BROAD:
    rng = _rng(config, _STREAM_BROAD, clip.subject, index, 1)
  else:
    rng = _rng(config, _STREAM_PAIRS, clip.subject, clip.label, index)
  return [views.random_camera(np.degrees(clip.facing) + azimuth, rng)
          for azimuth in views.PAIR_CAMERAS], rng


def pair_examples(config, clip, index):
  """Pair records of one training clip: a few ordered capture-camera pairs per frame."""
  cameras, rng = pair_cameras(config, clip, index)
  detections = [views.detect(clip.joints_xyz, camera, rng) for camera in cameras]
  ordered = [(a, b) for a in range(len(cameras)) for b in range(len(cameras)) if a != b]
  joints_yxz = motion.to_yxz(clip.joints_xyz)
  sizes = [[views.IMAGE_HEIGHT, views.IMAGE_WIDTH]] * 2
  subject = subject_name(clip.subject)
  for frame in range(0, len(joints_yxz), config.pair_frame_stride):
    for choice in rng.choice(len(ordered), config.pairs_per_frame, replace=False):
      a, b = ordered[choice]
      yield records.make_example(
          sizes,
          np.stack([detections[a][0][frame], detections[b][0][frame]]),
          np.stack([detections[a][1][frame], detections[b][1][frame]]),
          keypoints_3d=np.stack([joints_yxz[frame]] * 2),
          metadata={'subject': [subject] * 2, 'camera': [f'cam{a + 1}', f'cam{b + 1}'],
                    'frame_index': [frame] * 2,
                    'source_id': clip_name(clip, index)})


def write_pairs(config, directory, overwrite):
  writer = shards.DatasetWriter(directory, 'synthetic_pairs', sources=['generated'],
                                records_per_shard=config.records_per_shard,
                                overwrite=overwrite)
  for clip, index, _ in performances(config, 0):
    if config.split_of(clip.subject) == TRAIN:
      for example in pair_examples(config, clip, index):
        writer.write(records.serialize(example), TRAIN)
  for clip, index in broad_performances(config):
    for example in pair_examples(config, clip, index):
      writer.write(records.serialize(example), TRAIN)
  return writer.close(_manifest_extra(config, PAIRS_DIR))


def broad_performances(config):
  """Yields (clip, index): the broad prior's clips of the training subjects (pair records)."""
  for subject in range(config.num_subjects):
    if config.split_of(subject) != TRAIN:
      continue
    bones = motion.subject_bones(_rng(config, _STREAM_BONES, subject))
    for index in range(config.broad_clips_per_subject):
      rng = _rng(config, _STREAM_BROAD, subject, index)
      yield motion.sample_clip(subject, bones, motion.BROAD, rng.uniform(-np.pi, np.pi),
                               rng), index


def retrieval_performances(config, part):
  """Yields (clip, index, {view: Camera}) of the test subjects for a retrieval part:
  HELDOUT_DIR: every held-out program; BROAD_DIR: new broad-prior clips."""
  # As many broad-prior clips as held-out program clips: both parts have the same size.
  labels = (range(len(motion.HELDOUT_ACTIONS)) if part == HELDOUT_DIR
            else [motion.BROAD] * len(motion.HELDOUT_ACTIONS))
  for subject in range(config.num_subjects):
    if config.split_of(subject) != TEST:
      continue
    bones = motion.subject_bones(_rng(config, _STREAM_BONES, subject))
    for number, label in enumerate(labels):
      for index in range(config.retrieval_clips_per_family):
        if label == motion.BROAD:
          index += number * config.retrieval_clips_per_family
        rng = _rng(config, _STREAM_RETRIEVAL, RETRIEVAL_PARTS.index(part), subject,
                   max(label, 0), index)
        facing = rng.uniform(-np.pi, np.pi)
        cameras = {view: views.random_camera(np.degrees(facing) + azimuth, rng,
                                             views.PENN_AZIMUTH_JITTER)
                   for view, azimuth in RETRIEVAL_VIEWS.items()}
        clip = motion.sample_clip(subject, bones, label, facing, rng, motion.HELDOUT_ACTIONS)
        yield clip, index, cameras


def write_retrieval_part(config, part, directory, overwrite):
  classes = motion.HELDOUT_NAMES if part == HELDOUT_DIR else ('broad',)
  writer = shards.DatasetWriter(directory, f'synthetic_{part}', classes=classes,
                                views=tuple(RETRIEVAL_VIEWS), sources=['generated'],
                                records_per_shard=config.records_per_shard,
                                overwrite=overwrite)
  for clip, index, cameras in retrieval_performances(config, part):
    for number, (view, camera) in enumerate(cameras.items()):
      rng = _rng(config, _STREAM_RETRIEVAL, RETRIEVAL_PARTS.index(part), clip.subject,
                 max(clip.label, 0), index, number + 1)
      example = sequence_example(config, clip, index, view, camera, rng, family='H',
                                 with_3d=True)
      writer.write(records.serialize(example), TEST, view, [max(clip.label, 0)])
  return writer.close(_manifest_extra(config, part))


def _manifest_extra(config, part):
  return {'generator': dataclasses.asdict(config), 'part': part,
          'subjects': {split: [subject_name(s) for s in range(config.num_subjects)
                               if config.split_of(s) == split] for split in (TRAIN, TEST)},
          'profile_2d': keypoints.LEGACY_2DCOCO13, 'profile_3d': keypoints.LEGACY_3DH36M17,
          'sequence_length': config.sequence_length,
          'image_size': [views.IMAGE_HEIGHT, views.IMAGE_WIDTH]}


def generate(config: SyntheticConfig, output_dir: str, overwrite: bool = False,
             log=print) -> dict:
  """Writes pair and sequence records under `output_dir`; returns {part: manifest}."""
  manifests = {}
  start = time.time()
  manifests[PAIRS_DIR] = write_pairs(config, os.path.join(output_dir, PAIRS_DIR), overwrite)
  log(f'[synthetic] {PAIRS_DIR}: {manifests[PAIRS_DIR]["num_records"]} records '
      f'({time.time() - start:.1f} s)')
  for index, view_set in enumerate(config.view_sets):
    manifests[view_set] = write_sequences(config, index, os.path.join(output_dir, view_set),
                                          overwrite)
    log(f'[synthetic] {view_set}: {manifests[view_set]["num_records"]} records '
        f'({time.time() - start:.1f} s)')
  if config.retrieval_clips_per_family:
    for part in RETRIEVAL_PARTS:
      manifests[part] = write_retrieval_part(config, part, os.path.join(output_dir, part),
                                             overwrite)
      log(f'[synthetic] {part}: {manifests[part]["num_records"]} records '
          f'({time.time() - start:.1f} s)')
  return manifests
