"""Records: exact round trips, original-keys-only records, clear errors, sharded writing."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.core import example_wire
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards
from poem_cvmim.core import tfrecord_files


def _pair_arrays(seed=0):
  rng = np.random.default_rng(seed)
  return dict(image_sizes=np.array([[1000, 1002], [480, 640]]),
              keypoints_2d=rng.uniform(size=(2, 13, 2)).astype(np.float32),
              keypoint_scores_2d=rng.uniform(size=(2, 13)).astype(np.float32),
              keypoints_3d=rng.normal(size=(2, 17, 3)).astype(np.float32))


def test_pair_record_round_trips_exactly():
  arrays = _pair_arrays()
  serialized = records.serialize(records.make_example(
      **arrays, metadata={'subject': ['S1', 'S1'], 'camera': ['54138969', '55011271'],
                          'frame_index': [7, 7]}))
  parsed = records.parse_pair_example(serialized)
  for key in ('image_sizes', 'keypoints_2d', 'keypoint_scores_2d', 'keypoints_3d'):
    np.testing.assert_array_equal(parsed[key].numpy(), arrays[key])
  # The named keys carry (y, x): the first instance's NOSE_TIP y is stored under center/y.
  example = tf.train.Example.FromString(serialized)
  y_values = example.features.feature['image/object/part/NOSE_TIP/center/y'].float_list.value
  assert y_values[0] == arrays['keypoints_2d'][0, 0, 0]
  batch = records.parse_pair_example(tf.constant([serialized, serialized]))
  assert batch['keypoints_3d'].shape == (2, 2, 17, 3)


def test_sequence_record_round_trips_exactly():
  rng = np.random.default_rng(1)
  num_frames = 7
  sizes = np.tile([[1080, 1920]], (num_frames, 1))
  points = rng.uniform(size=(num_frames, 13, 2)).astype(np.float32)
  scores = rng.uniform(size=(num_frames, 13)).astype(np.float32)
  serialized = records.serialize(records.make_example(
      sizes, points, scores, labels=[3], features=np.arange(num_frames * 4).reshape(7, 4),
      metadata={'view': 'front', 'num_frames': 5, 'source_id': 'clip1', 'subject': 'S02'}))
  parsed = records.parse_sequence_example(serialized, num_frames, num_classes=5,
                                          feature_dim=4)
  np.testing.assert_array_equal(parsed['keypoints_2d'].numpy(), points)
  np.testing.assert_array_equal(parsed['keypoint_scores_2d'].numpy(), scores)
  np.testing.assert_array_equal(parsed['image_sizes'].numpy(), sizes)
  np.testing.assert_array_equal(parsed['class_targets'].numpy(), [0, 0, 0, 1, 0])
  np.testing.assert_array_equal(parsed['features'].numpy(), np.arange(28).reshape(7, 4))
  assert parsed['view'].numpy() == b'front' and parsed['num_frames'].numpy() == 5
  assert parsed['subject'].numpy() == b'S02'
  batch = records.parse_sequence_example([serialized] * 3, num_frames, num_classes=5)
  assert batch['class_targets'].shape == (3, 5)


def _original_keys_only_example(num=2, labels=None, confidences=None):
  """A record as the original tools write it: no metadata keys of ours."""
  feature = {}
  def floats(v):
    return tf.train.Feature(float_list=tf.train.FloatList(value=v))
  feature['image/height'] = tf.train.Feature(int64_list=tf.train.Int64List(value=[720] * num))
  feature['image/width'] = tf.train.Feature(int64_list=tf.train.Int64List(value=[1280] * num))
  for name in keypoints.get_profile('LEGACY_2DCOCO13').keypoint_names:
    for suffix in ('/center/x', '/center/y', '/score'):
      feature[f'image/object/part/{name}{suffix}'] = floats([0.25] * num)
  for name in keypoints.get_profile('LEGACY_3DH36M17').keypoint_names:
    for suffix in ('/center/x', '/center/y', '/center/z'):
      feature[f'image/object/part_3d/{name}{suffix}'] = floats([1.5] * num)
  if labels is not None:
    feature['image/class/label'] = tf.train.Feature(int64_list=tf.train.Int64List(value=labels))
  if confidences is not None:
    feature['image/class/confidence'] = floats(confidences)
  return tf.train.Example(features=tf.train.Features(feature=feature))


def test_record_with_only_original_keys_parses():
  parsed = records.parse_pair_example(_original_keys_only_example().SerializeToString())
  assert parsed['keypoints_2d'].shape == (2, 13, 2)
  np.testing.assert_array_equal(parsed['image_sizes'].numpy(), [[720, 1280]] * 2)
  sequence = records.parse_sequence_example(
      _original_keys_only_example(4, labels=[1, 2], confidences=[1.0, 0.3]).SerializeToString(),
      num_frames=4, num_classes=3)
  # Label 2 has confidence 0.3 <= 0.5: not positive.
  np.testing.assert_array_equal(sequence['class_targets'].numpy(), [0, 1, 0])
  assert sequence['view'].numpy() == b'' and sequence['num_frames'].numpy() == 0


def test_labels_without_confidences_count_as_positive():
  serialized = _original_keys_only_example(3, labels=[0]).SerializeToString()
  parsed = records.parse_sequence_example(serialized, num_frames=3, num_classes=2)
  np.testing.assert_array_equal(parsed['class_targets'].numpy(), [1, 0])


def test_missing_2d_key_is_named(tmp_path):
  example = _original_keys_only_example()
  del example.features.feature['image/object/part/LEFT_WRIST/center/x']
  with pytest.raises(tf.errors.InvalidArgumentError, match='LEFT_WRIST/center/x'):
    records.parse_pair_example(example.SerializeToString())
  path = str(tmp_path / 'bad.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    writer.write(example.SerializeToString())
  spec = records.instance_feature_spec(2, profile_3d='LEGACY_3DH36M17')
  with pytest.raises(ValueError, match=r'bad.tfrecord: record 0 lacks .*LEFT_WRIST/center/x'):
    records.check_first_record(path, spec)


def test_shape_errors_and_unknown_metadata():
  arrays = _pair_arrays()
  arrays['keypoints_2d'] = arrays['keypoints_2d'][:, :12]
  with pytest.raises(ValueError, match=r'keypoints_2d has shape \(2, 12, 2\)'):
    records.make_example(**arrays)
  with pytest.raises(ValueError, match='Unknown metadata'):
    records.make_example(**_pair_arrays(), metadata={'actor': 'x'})


def test_expand_patterns(tmp_path):
  for name in ('b.tfrecord', 'a.tfrecord'):
    (tmp_path / name).write_bytes(b'')
  assert [os.path.basename(f) for f in records.expand_patterns(
      f'{tmp_path}/*.tfrecord')] == ['a.tfrecord', 'b.tfrecord']
  with pytest.raises(ValueError, match='nothing-here'):
    records.expand_patterns(f'{tmp_path}/*.tfrecord,{tmp_path}/nothing-here*')


def test_dataset_writer_shards_manifest_and_atomicity(tmp_path):
  directory = str(tmp_path / 'out')
  writer = shards.DatasetWriter(directory, 'toy', classes=['a', 'b'], views=['v1', 'v2'],
                                records_per_shard=2)
  for i in range(5):
    writer.write(f'record{i}'.encode(), 'train', 'v1', [i % 2])
  writer.write(b'x', 'test', 'v2', [1])
  writer.skip('file.mat', 'line 3: bad value')
  # Nothing a reader can see before close.
  assert not os.path.exists(directory)
  manifest = writer.close({'extra': 1})
  names = sorted(f for f in os.listdir(directory) if f.endswith('.tfrecord'))
  assert names == ['test-v2-00000-of-00001.tfrecord', 'train-v1-00000-of-00003.tfrecord',
                   'train-v1-00001-of-00003.tfrecord', 'train-v1-00002-of-00003.tfrecord']
  with open(os.path.join(directory, 'manifest.json')) as f:
    assert json.load(f) == manifest
  assert manifest['num_records'] == 6 and manifest['extra'] == 1
  assert manifest['splits']['train'] == {'num_records': 5, 'views': {'v1': 5},
                                         'classes': {'a': 3, 'b': 2}}
  assert manifest['skipped'] == [{'source': 'file.mat', 'reason': 'line 3: bad value'}]
  assert manifest['shards']['test-v2-00000-of-00001.tfrecord'] == shards.file_sha256(
      os.path.join(directory, 'test-v2-00000-of-00001.tfrecord'))
  read = [r.numpy() for r in tf.data.TFRecordDataset(
      sorted(tf.io.gfile.glob(shards.shard_pattern(directory, 'train', 'v1'))))]
  assert read == [f'record{i}'.encode() for i in range(5)]
  with pytest.raises(FileExistsError, match='overwrite'):
    shards.DatasetWriter(directory, 'toy')
  with pytest.raises(ValueError, match='declared views'):
    shards.DatasetWriter(directory, 'toy', views=['v1'], overwrite=True).write(b'', 'x', 'v9')


def _records_of_every_kind(seed=2):
  """Serialized pair, sequence and feature records with the awkward values: negative and
  large int64s, an empty label list, empty and non-ASCII strings."""
  rng = np.random.default_rng(seed)
  pair = records.make_example(
      **_pair_arrays(seed), metadata={'subject': ['S1', 'S1'], 'frame_index': [7, -3],
                                      'view': '', 'source_id': 'caméra-' * 40})
  num_frames = 300
  sequence = records.make_example(
      np.tile([[1080, 1920]], (num_frames, 1)), rng.uniform(size=(num_frames, 13, 2)),
      rng.uniform(size=(num_frames, 13)), labels=[], features=rng.normal(size=(num_frames, 3)),
      metadata={'num_frames': 2**40, 'view': 'C1R1'})
  feature = records.make_feature_example(rng.normal(size=(5, 4)), [1, 0, 48],
                                         metadata={'frame_index': -2**63})
  return [records.serialize(example) for example in (pair, sequence, feature)]


def test_records_are_the_bytes_tensorflow_serialises():
  for serialized in _records_of_every_kind():
    example = tf.train.Example.FromString(serialized)
    assert example.SerializeToString(deterministic=True) == serialized
  feature = tf.train.Example.FromString(_records_of_every_kind()[2]).features.feature
  assert list(feature['image/frame_index'].int64_list.value) == [-2**63]
  assert list(feature['image/class/label'].int64_list.value) == [1, 0, 48]


def test_varints_match_the_one_value_encoder():
  rng = np.random.default_rng(3)
  values = ([0, 1, 127, 128, 16383, 16384, 2**21, 2**63 - 1, -1, -128, -2**63]
            + rng.integers(-2**63, 2**63 - 1, 200, dtype=np.int64).tolist()
            + rng.integers(0, 2**20, 200).tolist())
  expected = b''.join(example_wire.varint(v & (2**64 - 1)) for v in values)
  assert example_wire.varints(values) == expected
  assert example_wire.varints([300] * 5) == example_wire.varint(300) * 5
  assert example_wire.varints([]) == b''


def test_tfrecord_files_are_the_bytes_tensorflow_writes(tmp_path):
  written = _records_of_every_kind() + [b'', b'x']
  with tf.io.TFRecordWriter(str(tmp_path / 'tf.tfrecord')) as writer:
    for record in written:
      writer.write(record)
  with tfrecord_files.TFRecordWriter(str(tmp_path / 'ours.tfrecord')) as writer:
    for record in written:
      writer.write(record)
  assert (tmp_path / 'ours.tfrecord').read_bytes() == (tmp_path / 'tf.tfrecord').read_bytes()
  read = [r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / 'ours.tfrecord'))]
  assert read == written
