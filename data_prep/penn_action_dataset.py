"""Penn Action `labels/*.mat` -> sequence records, one per clip (data_prep/README.md).

Each `NNNN.mat` holds: action (class string), pose (view string), x, y, visibility
([nframes, 13]; pixels, 1 = visible), train (1 train, -1 test), bbox, dimensions
([height, width, nframes]) and nframes. The 2D is the ground-truth annotation (the paper used a
detector), the score is the visibility. Every clip is resampled in time to 663 frames by
uniform nearest-frame sampling. `strum_guitar` clips and clips in which the person is mostly
invisible are dropped, each listed with its reason in the manifest.
"""

import dataclasses
import os

import numpy as np
import scipy.io

from data_prep import conversion
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards

DATASET = 'penn_action'
TRAIN, TEST = 'train', 'test'
# Sequence length: the longest Penn Action clip, every clip up-sampled to it (the paper's T).
SEQUENCE_LENGTH = 663
NUM_JOINTS = 13
# The 15 action strings stored in the files; strum_guitar is not used (14 classes).
STORED_CLASSES = (
    'baseball_pitch', 'baseball_swing', 'bench_press', 'bowl', 'clean_and_jerk', 'golf_swing',
    'jump_rope', 'jumping_jacks', 'pullup', 'pushup', 'situp', 'squat', 'strum_guitar',
    'tennis_forehand', 'tennis_serve')
DROPPED_CLASSES = ('strum_guitar',)
CLASSES = tuple(c for c in STORED_CLASSES if c not in DROPPED_CLASSES)
REQUIRED_FIELDS = ('action', 'pose', 'x', 'y', 'visibility', 'train', 'dimensions')


@dataclasses.dataclass(frozen=True)
class PennConfig(conversion.ConversionOptions):
  """What to convert. A clip is kept when at least `min_visible_frames` of its frames have at
  least `min_visible_joints` of their joints visible (both fractions; default: half, half)."""
  input_dir: str
  output_dir: str
  min_visible_joints: float = 0.5
  min_visible_frames: float = 0.5

  def __post_init__(self):
    for name in ('min_visible_joints', 'min_visible_frames'):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise errors.InputError(f'{name} must be a fraction in [0, 1], got {getattr(self, name)}.')
    if self.num_workers < 1:
      raise errors.InputError(f'num_workers must be >= 1, got {self.num_workers}.')


@dataclasses.dataclass
class PennClip:
  action: str
  view: str
  points: np.ndarray  # [nframes, 13, 2] (y, x) pixels
  visibility: np.ndarray  # [nframes, 13]
  train: bool
  image_size: tuple  # (height, width)


def _string(value, field, path) -> str:
  array = np.asarray(value).ravel()
  if array.size != 1 or array.dtype.kind not in 'US':
    raise conversion.MalformedInput(path, f"field '{field}' is not a string")
  return str(array[0]).strip()


def _matrix(mat, field, path, num_frames) -> np.ndarray:
  array = np.asarray(mat[field], np.float64)
  if array.shape != (num_frames, NUM_JOINTS):
    raise conversion.MalformedInput(path, f"field '{field}' has shape {array.shape}, expected "
                                    f'({num_frames}, {NUM_JOINTS}) from dimensions/nframes')
  return array


def read_clip(path: str) -> PennClip:
  """Reads one label file; MalformedInput names the field at fault."""
  try:
    mat = scipy.io.loadmat(path)
  except Exception as error:  # scipy raises several types for unreadable files
    raise conversion.MalformedInput(path, f'not a readable .mat file ({error})') from None
  missing = [field for field in REQUIRED_FIELDS if field not in mat]
  if missing:
    raise conversion.MalformedInput(path, f'missing field(s) {", ".join(missing)}')
  dimensions = np.asarray(mat['dimensions'], np.float64).ravel()
  if dimensions.size != 3 or np.any(dimensions <= 0):
    raise conversion.MalformedInput(path, f"field 'dimensions' is {dimensions.tolist()}, "
                                    'expected [height, width, nframes]')
  height, width, num_frames = (int(v) for v in dimensions)
  if 'nframes' in mat and int(np.asarray(mat['nframes']).ravel()[0]) != num_frames:
    raise conversion.MalformedInput(path, "fields 'nframes' and 'dimensions' disagree")
  x, y = (_matrix(mat, field, path, num_frames) for field in ('x', 'y'))
  visibility = _matrix(mat, 'visibility', path, num_frames)
  train = int(np.asarray(mat['train']).ravel()[0])
  if train not in (1, -1):
    raise conversion.MalformedInput(path, f"field 'train' is {train}, expected 1 or -1")
  return PennClip(_string(mat['action'], 'action', path), _string(mat['pose'], 'pose', path),
                  np.stack([y, x], axis=-1), visibility, train == 1, (height, width))


def mostly_invisible(visibility: np.ndarray, min_joints: float, min_frames: float) -> bool:
  """True when fewer than `min_frames` of the frames show `min_joints` of the joints."""
  frames_ok = np.mean(visibility > 0, axis=1) >= min_joints
  return np.mean(frames_ok) < min_frames


def resample_indices(num_frames: int, length: int = SEQUENCE_LENGTH) -> np.ndarray:
  """Uniform nearest-frame resampling: output frame t shows input frame floor(t * n / T)."""
  return np.arange(length) * num_frames // length


def sequence_record(clip: PennClip, label: int, clip_id: str) -> bytes:
  frames = resample_indices(len(clip.points))
  height, width = clip.image_size
  points = clip.points[frames][:, keypoints.PENN13_TO_COCO13] / np.array([height, width])
  scores = (clip.visibility[frames][:, keypoints.PENN13_TO_COCO13] > 0).astype(np.float32)
  sizes = np.tile([[height, width]], (SEQUENCE_LENGTH, 1))
  return records.serialize(records.make_example(
      sizes, points, scores, labels=[label],
      metadata={'view': clip.view, 'camera': clip.view, 'num_frames': len(clip.points),
                'source_id': clip_id}))


def convert_file(item) -> conversion.Result:
  """Worker: (path, min_visible_joints, min_visible_frames) -> one record or a skip."""
  path, min_joints, min_frames = item
  clip = read_clip(path)
  result = conversion.Result()
  if clip.action in DROPPED_CLASSES:
    return result.skip(path, f'class {clip.action} is not used (14 classes)')
  if clip.action not in CLASSES:
    raise conversion.MalformedInput(path, f"unknown action {clip.action!r}; expected one of "
                                    f'{list(STORED_CLASSES)}')
  if mostly_invisible(clip.visibility, min_joints, min_frames):
    return result.skip(path, f'person mostly invisible: fewer than {min_frames:.0%} of the '
                       f'frames show {min_joints:.0%} of the joints')
  clip_id = os.path.splitext(os.path.basename(path))[0]
  label = CLASSES.index(clip.action)
  result.outputs.append(conversion.Output(sequence_record(clip, label, clip_id),
                                          TRAIN if clip.train else TEST, clip.view, (label,)))
  return result


def label_directory(input_dir: str) -> str:
  """`<root>/labels` if the user gave the dataset root, else the directory itself."""
  labels = os.path.join(input_dir, 'labels')
  return labels if os.path.isdir(labels) else input_dir


def convert(config: PennConfig, log=None) -> dict:
  """Converts every label file; returns the manifest."""
  files = conversion.list_inputs(label_directory(config.input_dir), '*.mat',
                                 'Penn Action labels/*.mat files')
  writer = shards.DatasetWriter(config.output_dir, DATASET, classes=CLASSES,
                                sources=[os.path.abspath(config.input_dir)],
                                records_per_shard=config.records_per_shard,
                                overwrite=config.overwrite)
  items = [(path, config.min_visible_joints, config.min_visible_frames) for path in files]
  try:
    conversion.run(convert_file, items, writer, DATASET, config.num_workers, config.strict,
                   log=log)
  except BaseException:
    writer.abort()
    raise
  return writer.close({
      'sequence_length': SEQUENCE_LENGTH, 'profile_2d': keypoints.LEGACY_2DCOCO13,
      'two_d_source': 'ground-truth annotations (x, y), score = visibility; not a detector',
      'drop_rule': {'min_visible_joints': config.min_visible_joints,
                    'min_visible_frames': config.min_visible_frames},
      'dropped_classes': list(DROPPED_CLASSES)})
