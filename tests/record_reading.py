"""Test helpers: read converted shards back as plain Python values, by key."""

import glob
import os

import tensorflow as tf

from poem_cvmim.core import records


def read_examples(directory: str, prefix: str = '') -> list:
  """Every record of the shards in `directory` whose name starts with `prefix`, as
  {feature key: list of values}, shards in name order."""
  examples = []
  for path in sorted(glob.glob(os.path.join(directory, prefix + '*.tfrecord'))):
    for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
      feature = tf.train.Example.FromString(serialized).features.feature
      examples.append({key: list(getattr(value, value.WhichOneof('kind')).value)
                       for key, value in feature.items()})
  return examples


def metadata(example: dict, name: str) -> list:
  values = example[records.METADATA_KEYS[name][0]]
  return [v.decode() if isinstance(v, bytes) else v for v in values]


def point_2d(example: dict, joint: str, index: int) -> tuple:
  """(y, x) of a 2D joint of instance/frame `index`."""
  y_key, x_key = records.keypoint_keys_2d(joint)
  return example[y_key][index], example[x_key][index]


def point_3d(example: dict, joint: str, index: int) -> tuple:
  """(y, x, z) of a 3D joint of instance `index`."""
  return tuple(example[key][index] for key in records.keypoint_keys_3d(joint))


def score(example: dict, joint: str, index: int) -> float:
  return example[records.score_key_2d(joint)][index]


def leftovers(directory: str) -> list:
  """Files a failed conversion must not leave: shards, temporary shards, a manifest."""
  if not os.path.isdir(directory):
    return []
  return sorted(name for name in os.listdir(directory)
                if name.endswith(('.tfrecord', '.tmp')) or name == 'manifest.json')
