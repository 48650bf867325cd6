"""Record schema (docs/records.md): tf.Example feature keys, writers and parsers.

Two record kinds share one per-instance layout, where every per-instance key holds N values:
- pair records (docs/records.md, "Pair records"): N = 2 instances (anchor, positive) of one
  instant seen by two cameras;
- sequence records (docs/records.md, "Sequence records"): N = T frames of one clip seen by one
  camera (time-major).

2D coordinates are stored normalised to [0, 1] by image height/width under named keys, so the
(y, x) order used in arrays (docs/conventions.md, "Axis order") does not depend on key order.
The keys are the original's; records written by the original tools parse here (the metadata
keys are optional).
"""

import functools
import glob
import os
from typing import Mapping, Optional, Sequence

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import example_wire
from poem_cvmim.core import keypoints
from poem_cvmim.core import lazy_tensorflow

tf = lazy_tensorflow.deferred

KEY_IMAGE_HEIGHT = 'image/height'
KEY_IMAGE_WIDTH = 'image/width'
PREFIX_KEYPOINT_2D = 'image/object/part/'
PREFIX_KEYPOINT_3D = 'image/object/part_3d/'
# Coordinate key suffixes in array order: (y, x) for 2D and (y, x, z) for 3D.
SUFFIXES_KEYPOINT_2D = ('/center/y', '/center/x')
SUFFIXES_KEYPOINT_3D = ('/center/y', '/center/x', '/center/z')
SUFFIX_KEYPOINT_SCORE = '/score'
KEY_CLASS_LABEL = 'image/class/label'
KEY_CLASS_CONFIDENCE = 'image/class/confidence'
KEY_FEATURES = 'feature/data'
# Confidence above which a class label counts as positive (docs/records.md, "Keys").
LABEL_CONFIDENCE_THRESHOLD = 0.5

# Metadata written by our converters: name -> (key, kind). Readers never require them.
METADATA_KEYS = {
    'subject': ('image/object/subject', 'bytes'),
    'subaction': ('image/subaction', 'bytes'),
    'camera': ('image/object/camera', 'bytes'),
    'frame_index': ('image/frame_index', 'int64'),
    'view': ('image/object/view', 'bytes'),
    'num_frames': ('image/sequence/num_frames', 'int64'),
    'source_id': ('image/source_id', 'bytes'),
}

# Names of parsed tensors (one name for one thing, used by every pipeline).
SOURCE_ID, FRAME_INDEX, CAMERA = 'source_id', 'frame_index', 'camera'
# What temporal mining reads from a pair record: its clip, and each instance's frame and camera.
PAIR_METADATA = (SOURCE_ID, FRAME_INDEX, CAMERA)
IMAGE_SIZES = 'image_sizes'
KEYPOINTS_2D = 'keypoints_2d'
KEYPOINT_SCORES_2D = 'keypoint_scores_2d'
KEYPOINTS_3D = 'keypoints_3d'
CLASS_TARGETS = 'class_targets'
FEATURES = 'features'

NUM_PAIR_INSTANCES = 2
DEFAULT_PROFILE_2D = keypoints.LEGACY_2DCOCO13
DEFAULT_PROFILE_3D = keypoints.LEGACY_3DH36M17


def keypoint_keys_2d(name: str) -> list:
  """Coordinate keys of one 2D joint, in (y, x) order."""
  return [PREFIX_KEYPOINT_2D + name + suffix for suffix in SUFFIXES_KEYPOINT_2D]


def keypoint_keys_3d(name: str) -> list:
  """Coordinate keys of one 3D joint, in (y, x, z) order."""
  return [PREFIX_KEYPOINT_3D + name + suffix for suffix in SUFFIXES_KEYPOINT_3D]


def score_key_2d(name: str) -> str:
  return PREFIX_KEYPOINT_2D + name + SUFFIX_KEYPOINT_SCORE


@functools.lru_cache(maxsize=None)
def _profile_keys(profile_name: str):
  """(joint keys [joint][coordinate], score keys [joint] or None) of a profile."""
  profile = keypoints.get_profile(profile_name)
  keys_fn = keypoint_keys_2d if profile.keypoint_dim == 2 else keypoint_keys_3d
  coordinate_keys = [keys_fn(name) for name in profile.keypoint_names]
  score_keys = ([score_key_2d(name) for name in profile.keypoint_names]
                if profile.keypoint_dim == 2 else None)
  return coordinate_keys, score_keys


# ------------------------------------------------------------------------------------------
# Writing.

def _strings(values) -> list:
  values = [values] if isinstance(values, (str, bytes)) else list(values)
  return [v if isinstance(v, bytes) else str(v).encode('utf-8') for v in values]


def make_example(image_sizes, keypoints_2d, keypoint_scores_2d, keypoints_3d=None,
                 profile_2d=DEFAULT_PROFILE_2D, profile_3d=DEFAULT_PROFILE_3D,
                 labels: Optional[Sequence[int]] = None, features=None,
                 metadata: Optional[Mapping] = None) -> example_wire.Example:
  """Builds one record holding N instances (pair: N = 2; sequence: N = T frames).

  Args:
    image_sizes: [N, 2] (height, width) in pixels.
    keypoints_2d: [N, J2, 2] (y, x) normalised to [0, 1] by image height and width.
    keypoint_scores_2d: [N, J2].
    keypoints_3d: Optional [N, J3, 3] (y, x, z) in the dataset's unit.
    profile_2d, profile_3d: Profile names giving the joint names of the keys.
    labels: Optional 0-based class ids (written with confidence 1.0).
    features: Optional [N, D] per-instance features, written flattened to `feature/data`.
    metadata: Optional {name: value or list} for the names in `METADATA_KEYS`.
  """
  image_sizes = np.asarray(image_sizes, np.int64)
  keypoints_2d = np.asarray(keypoints_2d, np.float32)
  scores = np.asarray(keypoint_scores_2d, np.float32)
  names_2d = keypoints.get_profile(profile_2d).keypoint_names
  num = image_sizes.shape[0]
  _check_shape('image_sizes', image_sizes, (num, 2))
  _check_shape('keypoints_2d', keypoints_2d, (num, len(names_2d), 2))
  _check_shape('keypoint_scores_2d', scores, (num, len(names_2d)))
  example = example_wire.Example()
  example.put(KEY_IMAGE_HEIGHT, example_wire.INT64, image_sizes[:, 0].tolist())
  example.put(KEY_IMAGE_WIDTH, example_wire.INT64, image_sizes[:, 1].tolist())
  coordinate_keys, score_keys = _profile_keys(profile_2d)
  _put_points(example, coordinate_keys, keypoints_2d)
  _put_points(example, [[key] for key in score_keys], scores[..., np.newaxis])
  if keypoints_3d is not None:
    keypoints_3d = np.asarray(keypoints_3d, np.float32)
    names_3d = keypoints.get_profile(profile_3d).keypoint_names
    _check_shape('keypoints_3d', keypoints_3d, (num, len(names_3d), 3))
    _put_points(example, _profile_keys(profile_3d)[0], keypoints_3d)
  if labels is not None:
    _put_labels(example, labels)
  if features is not None:
    example.put(KEY_FEATURES, example_wire.FLOAT, np.asarray(features, np.float32).ravel())
  _put_metadata(example, metadata)
  return example


def _put_points(example, keys, points):
  """keys[joint][coordinate] <- points[:, joint, coordinate] ([N, J, C] float32)."""
  example.put_float_rows([key for joint_keys in keys for key in joint_keys],
                         points.transpose(1, 2, 0))


def _put_labels(example, labels):
  labels = [int(label) for label in labels]
  example.put(KEY_CLASS_LABEL, example_wire.INT64, labels)
  example.put(KEY_CLASS_CONFIDENCE, example_wire.FLOAT, [1.0] * len(labels))


def _put_metadata(example, metadata):
  for name, value in (metadata or {}).items():
    if name not in METADATA_KEYS:
      raise errors.InputError(f'Unknown metadata {name!r}; valid: {sorted(METADATA_KEYS)}.')
    key, kind = METADATA_KEYS[name]
    if kind == 'int64':
      example.put(key, example_wire.INT64, np.asarray(value, np.int64).ravel().tolist())
    else:
      example.put(key, example_wire.BYTES, _strings(value))


def make_feature_example(features, labels: Sequence[int],
                         metadata: Optional[Mapping] = None) -> example_wire.Example:
  """A feature-table record: per-frame features [T, D] flattened to `feature/data`, labels and
  metadata (no keypoints)."""
  example = example_wire.Example()
  example.put(KEY_FEATURES, example_wire.FLOAT, np.asarray(features, np.float32).ravel())
  _put_labels(example, labels)
  _put_metadata(example, metadata)
  return example


def stored_length(serialized: bytes, key: str = KEY_IMAGE_HEIGHT) -> int:
  """How many values a record holds under `key` (its T for a sequence record)."""
  feature = tf.train.Example.FromString(serialized).features.feature
  if key not in feature:
    raise errors.InputError(f'The record has no key {key!r}.')
  kind = feature[key].WhichOneof('kind')
  return len(getattr(feature[key], kind).value)


def _check_shape(name, array, expected):
  if tuple(array.shape) != tuple(expected):
    raise errors.InputError(f'{name} has shape {tuple(array.shape)}, expected {tuple(expected)}.')


def serialize(example: example_wire.Example) -> bytes:
  """The record's bytes: map keys sorted, so equal records give equal bytes (the bytes
  TensorFlow's deterministic serialisation of the same tf.train.Example gives)."""
  return example.serialize()


# ------------------------------------------------------------------------------------------
# Parsing.

def instance_feature_spec(num_instances, profile_2d=DEFAULT_PROFILE_2D, profile_3d=None,
                          include_scores=True) -> dict:
  """Feature spec of the per-instance keys, each holding `num_instances` values."""
  shape = [num_instances]
  spec = {KEY_IMAGE_HEIGHT: tf.io.FixedLenFeature(shape, tf.int64),
          KEY_IMAGE_WIDTH: tf.io.FixedLenFeature(shape, tf.int64)}
  for name in keypoints.get_profile(profile_2d).keypoint_names:
    for key in keypoint_keys_2d(name):
      spec[key] = tf.io.FixedLenFeature(shape, tf.float32)
    if include_scores:
      spec[score_key_2d(name)] = tf.io.FixedLenFeature(shape, tf.float32)
  if profile_3d:
    for name in keypoints.get_profile(profile_3d).keypoint_names:
      for key in keypoint_keys_3d(name):
        spec[key] = tf.io.FixedLenFeature(shape, tf.float32)
  return spec


def _parse(serialized, spec):
  serialized = tf.convert_to_tensor(serialized, tf.string)
  if serialized.shape.rank == 0:
    return tf.io.parse_single_example(serialized, spec)
  return tf.io.parse_example(serialized, spec)


def _stack_points(decoded, names, keys_fn):
  return tf.stack([tf.stack([decoded[k] for k in keys_fn(n)], axis=-1) for n in names],
                  axis=-2)


def _decode_instances(decoded, profile_2d, profile_3d):
  names_2d = keypoints.get_profile(profile_2d).keypoint_names
  outputs = {
      IMAGE_SIZES: tf.stack([decoded[KEY_IMAGE_HEIGHT], decoded[KEY_IMAGE_WIDTH]], axis=-1),
      KEYPOINTS_2D: _stack_points(decoded, names_2d, keypoint_keys_2d),
      KEYPOINT_SCORES_2D: tf.stack([decoded[score_key_2d(n)] for n in names_2d], axis=-1),
  }
  if profile_3d:
    names_3d = keypoints.get_profile(profile_3d).keypoint_names
    outputs[KEYPOINTS_3D] = _stack_points(decoded, names_3d, keypoint_keys_3d)
  return outputs


def pair_metadata_spec(num_instances=NUM_PAIR_INSTANCES) -> dict:
  """Feature spec of `PAIR_METADATA`: the clip of a pair record (one string), and the frame
  index and camera of each of its instances. Required: records without them cannot be mined
  for temporal negatives."""
  key = lambda name: METADATA_KEYS[name][0]
  return {key(SOURCE_ID): tf.io.FixedLenFeature([], tf.string),
          key(FRAME_INDEX): tf.io.FixedLenFeature([num_instances], tf.int64),
          key(CAMERA): tf.io.FixedLenFeature([num_instances], tf.string)}


def parse_pair_example(serialized, profile_2d=DEFAULT_PROFILE_2D,
                       profile_3d=DEFAULT_PROFILE_3D, num_instances=NUM_PAIR_INSTANCES,
                       with_metadata=False):
  """Parses pair records (a scalar string or a batch [B]).

  Returns a dict with `image_sizes` [..., 2, 2] int64, `keypoints_2d` [..., 2, J2, 2],
  `keypoint_scores_2d` [..., 2, J2]; unless `profile_3d` is None, `keypoints_3d`
  [..., 2, J3, 3]; with `with_metadata`, `PAIR_METADATA`: `source_id` [...] string,
  `frame_index` [..., 2] int64 and `camera` [..., 2] string. A missing key fails with
  TensorFlow's error naming the key.
  """
  spec = instance_feature_spec(num_instances, profile_2d, profile_3d)
  if with_metadata:
    spec.update(pair_metadata_spec(num_instances))
  decoded = _parse(serialized, spec)
  outputs = _decode_instances(decoded, profile_2d, profile_3d)
  if with_metadata:
    outputs.update({name: decoded[METADATA_KEYS[name][0]] for name in PAIR_METADATA})
  return outputs


def _class_targets(decoded, num_classes):
  """Multi-hot [..., C] int32 from the variable-length labels and their confidences."""
  labels = tf.sparse.to_dense(decoded[KEY_CLASS_LABEL], default_value=-1)
  confidences = tf.sparse.to_dense(decoded[KEY_CLASS_CONFIDENCE], default_value=1.0)
  # A label without a stored confidence counts as confident: pad confidences to the labels.
  width = tf.shape(labels)[-1]
  confidences = confidences[..., :width]
  pad = width - tf.shape(confidences)[-1]
  paddings = [[0, 0]] * (labels.shape.rank - 1) + [[0, pad]]
  confidences = tf.pad(confidences, paddings, constant_values=1.0)
  labels = tf.where(confidences > LABEL_CONFIDENCE_THRESHOLD, labels, -1)
  one_hot = tf.one_hot(labels, num_classes, dtype=tf.int32)  # label -1 gives a zero row
  return tf.minimum(tf.reduce_sum(one_hot, axis=-2), 1)


def sequence_feature_spec(num_frames, num_classes=None, profile_2d=DEFAULT_PROFILE_2D,
                          feature_dim=None, include_keypoints=True, profile_3d=None) -> dict:
  """Feature spec of sequence records (optionally with labels, features and/or 3D)."""
  spec = {}
  if include_keypoints:
    spec.update(instance_feature_spec(num_frames, profile_2d, profile_3d))
  if num_classes:
    spec[KEY_CLASS_LABEL] = tf.io.VarLenFeature(tf.int64)
    spec[KEY_CLASS_CONFIDENCE] = tf.io.VarLenFeature(tf.float32)
  if feature_dim:
    spec[KEY_FEATURES] = tf.io.FixedLenFeature([num_frames * feature_dim], tf.float32)
  for name, (key, kind) in METADATA_KEYS.items():
    if name in ('view', 'num_frames', 'source_id', 'subject'):
      default = 0 if kind == 'int64' else ''
      dtype = tf.int64 if kind == 'int64' else tf.string
      spec[key] = tf.io.FixedLenFeature([], dtype, default_value=default)
  return spec


def sequence_parser(num_frames, **kwargs):
  """`parse_sequence_example` of batches [B] of serialized records (keyword arguments as
  there), traced once for every batch size: reading many shards with it costs one trace where
  a dataset map per shard list traces again each time."""
  return tf.function(lambda serialized: parse_sequence_example(serialized, num_frames, **kwargs),
                     input_signature=[tf.TensorSpec([None], tf.string)])


def parse_sequence_example(serialized, num_frames, num_classes=None,
                           profile_2d=DEFAULT_PROFILE_2D, feature_dim=None,
                           include_keypoints=True, profile_3d=None):
  """Parses sequence records (a scalar string or a batch [B]).

  Returns `image_sizes` [..., T, 2], `keypoints_2d` [..., T, J, 2], `keypoint_scores_2d`
  [..., T, J]; `keypoints_3d` [..., T, J3, 3] when `profile_3d` is given (records that hold
  3D, such as the synthetic retrieval parts); `class_targets` [..., C] multi-hot when
  `num_classes` is given; `features` [..., T, D] when `feature_dim` is given; and the optional
  metadata `view`, `subject`, `source_id` (strings, '' when absent) and `num_frames` (0 when
  absent).
  """
  spec = sequence_feature_spec(num_frames, num_classes, profile_2d, feature_dim,
                               include_keypoints, profile_3d)
  decoded = _parse(serialized, spec)
  outputs = _decode_instances(decoded, profile_2d, profile_3d) if include_keypoints else {}
  if num_classes:
    outputs[CLASS_TARGETS] = _class_targets(decoded, num_classes)
  if feature_dim:
    flat = decoded[KEY_FEATURES]
    outputs[FEATURES] = tf.reshape(
        flat, tf.concat([tf.shape(flat)[:-1], [num_frames, feature_dim]], axis=0))
  for name in ('view', 'num_frames', 'source_id', 'subject'):
    outputs[name] = decoded[METADATA_KEYS[name][0]]
  return outputs


# ------------------------------------------------------------------------------------------
# Files.

def expand_patterns(patterns) -> list:
  """Sorted files matching comma-separated patterns; a pattern matching nothing is an error."""
  if isinstance(patterns, str):
    patterns = [p for p in patterns.split(',') if p]
  if not patterns:
    raise errors.InputError('No input file pattern given.')
  files = []
  for pattern in patterns:
    matched = sorted(tf.io.gfile.glob(pattern)) or sorted(glob.glob(pattern))
    if not matched:
      raise errors.InputError(f'Input pattern {pattern!r} matches no file.')
    folders = [m for m in matched if os.path.isdir(m)]
    if folders:
      raise errors.InputError(f'Input pattern {pattern!r} matches the directory {folders[0]}: give '
                              f'its record files, e.g. {os.path.join(folders[0], "train-*")}.')
    files.extend(matched)
  return files


def missing_keys(path: str, spec: Mapping) -> list:
  """The required keys of `spec` that the file's first record lacks, in spec order. Raises
  ValueError naming the file if it holds no record or cannot be read as TFRecords."""
  try:
    first = [raw for raw in tf.data.TFRecordDataset(path).take(1)]
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
    raise errors.InputError(f'{path} is truncated or corrupt ({first_line(error)}); convert or '
                            'generate it again.') from None
  if not first:
    raise errors.InputError(f'{path} holds no record.')
  present = tf.train.Example.FromString(first[0].numpy()).features.feature
  return [key for key, feature in spec.items()
          if isinstance(feature, tf.io.FixedLenFeature) and feature.default_value is None
          and key not in present]


def describe_keys(keys, shown: int = 3) -> str:
  """'a', 'b', 'c' and 48 more."""
  listed = ', '.join(repr(k) for k in keys[:shown])
  return listed + (f' and {len(keys) - shown} more' if len(keys) > shown else '')


def check_first_record(path: str, spec: Mapping, purpose: str = '') -> None:
  """Raises ValueError naming the file and the keys its first record lacks (or that it cannot
  be read as TFRecords); `purpose` says what needs them."""
  missing = missing_keys(path, spec)
  if missing:
    why = f' {purpose}' if purpose else ''
    noun = 'the required key' if len(missing) == 1 else f'{len(missing)} required keys:'
    raise errors.InputError(f'{path}: record 0 lacks {noun} {describe_keys(missing)}{why}.')


def first_line(error: BaseException, limit: Optional[int] = 200) -> str:
  """The first line of an error's message (TensorFlow's run to dozens of lines), cut at
  `limit` characters (None: whole)."""
  lines = str(error).strip().splitlines()
  return (lines[0] if lines else type(error).__name__)[:limit]


def find_corrupt_file(files) -> Optional[tuple]:
  """(path, reason) of the first TFRecord file that cannot be read to its end, or None."""
  for path in files:
    try:
      tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
      return path, first_line(error)
  return None


def describe_corrupt_input(patterns, error: BaseException) -> str:
  """A one-line message naming the corrupt file among `patterns` (after a DataLossError)."""
  found = find_corrupt_file(expand_patterns(patterns))
  if found is None:
    return f'A record of {patterns} cannot be read ({first_line(error)}).'
  path, reason = found
  return (f'{path} is truncated or corrupt ({reason}); convert or generate it again, or leave '
          'it out of the input pattern.')


def check_finite_keypoints(parsed: dict, directory: str, split: str, view: str) -> None:
  """Raises ValueError naming the first clip whose valid frames hold NaN or Inf keypoints."""
  points = parsed[KEYPOINTS_2D].numpy()
  lengths = parsed['num_frames'].numpy()
  for i in range(len(points)):
    valid = points[i, :int(lengths[i]) or points.shape[1]]  # 0: every frame is real
    if not np.isfinite(valid).all():
      frame = int(np.flatnonzero(~np.isfinite(valid).all(axis=(1, 2)))[0])
      raise errors.InputError(f'{directory}: clip {parsed["source_id"][i].numpy().decode()} '
                              f'({split}/{view}) holds NaN or Inf keypoints at frame {frame}; fix '
                              'or drop it and convert again.')


def first_non_finite_pair(patterns, profile_2d=DEFAULT_PROFILE_2D,
                          profile_3d=DEFAULT_PROFILE_3D) -> Optional[str]:
  """Where the first pair record holding a NaN or Inf coordinate is ('<file>: record <i>,
  <key>'), or None when every value is finite (one full read of the records)."""
  for path in expand_patterns(patterns):
    dataset = tf.data.TFRecordDataset(path).batch(_SCAN_BATCH)
    for number, batch in enumerate(dataset):
      parsed = parse_pair_example(batch, profile_2d, profile_3d)
      for key in (KEYPOINTS_2D, KEYPOINT_SCORES_2D, KEYPOINTS_3D):
        if key not in parsed:
          continue
        values = np.reshape(parsed[key].numpy(), [len(batch), -1])
        bad = np.flatnonzero(~np.isfinite(values).all(axis=-1))
        if len(bad):
          return f'{path}: record {number * _SCAN_BATCH + bad[0]}, {key}'
  return None


_SCAN_BATCH = 512
