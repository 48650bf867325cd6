"""Input pipeline of representation training (docs/losses.md).

Records are read as raw strings, batched, then parsed a batch at a time with
`tf.io.parse_example` (about 10x faster here than parsing one record at a time). Model inputs
are made inside the compiled step: 2D keypoints are denormalised by image size, mixed with
random projections of the 3D pose by input type, profile-normalised, shuffled within the batch
and split into anchors and positives.
"""

import dataclasses
from typing import Optional

import tensorflow as tf

from poem_cvmim.core import cameras
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import random_keys
from poem_cvmim.core import records

_AUTOTUNE = tf.data.AUTOTUNE
INPUT_2D = cameras.INPUT_2D
# Logged beside the loss terms: of the virtual views used as input in the step, the fraction
# for which the camera guard moved the camera back (poem_cvmim.core.cameras).
GUARDED_VIEW_FRACTION = 'input/guarded_view_fraction'
STATISTIC_NAMES = (GUARDED_VIEW_FRACTION,)
# The model inputs an algorithm reads (`make_model_inputs`): every algorithm reads the pair
# itself; each declares which of the optional features it needs (`Algorithm.features`).
ANCHOR, POSITIVE = 'anchor', 'positive'
POSES_3D = 'poses_3d'
CLIPS, FRAMES, CAMERAS = 'clips', 'frames', 'cameras'
METADATA_FEATURES = (CLIPS, FRAMES, CAMERAS)  # parsed from the records' metadata
OPTIONAL_FEATURES = (POSES_3D,) + METADATA_FEATURES
# The camera id of a pose projected from 3D by a random virtual camera: the same as no other.
UNKNOWN_CAMERA = -1


@dataclasses.dataclass(frozen=True)
class InputSpec:
  """How model inputs are made from parsed pair records (docs/cameras.md)."""
  input_type: str = cameras.INPUT_2D_AND_3D_PROJECTION
  profile_2d: str = keypoints.LEGACY_2DCOCO13
  profile_3d: Optional[str] = keypoints.LEGACY_3DH36M17
  shuffle: bool = True  # shuffle each batch inside the step, as the original
  camera_depth_range: tuple = cameras.DEFAULT_CAMERA_DEPTH_RANGE
  min_joint_depth_fraction: float = cameras.MIN_JOINT_DEPTH_FRACTION  # the camera guard

  @classmethod
  def from_config(cls, config) -> 'InputSpec':
    """From a TrainConfig (input_type, profile_2d, profile_3d, shuffle_in_step and the
    virtual cameras' depth range and guard)."""
    return cls(config.input_type, config.profile_2d, config.profile_3d, config.shuffle_in_step,
               (config.camera_depth_min, config.camera_depth_max),
               config.min_joint_depth_fraction)

  @property
  def num_joints(self) -> int:
    return keypoints.get_profile(self.profile_2d).keypoint_num


def pair_dataset(patterns, global_batch_size, profile_2d, profile_3d, shuffle_buffer_size=4096,
                 seed=None, num_epochs=None, input_context=None, start_step=0,
                 with_metadata=False):
  """Batches of parsed pair records for one input pipeline.

  The stream is a sequence of epochs; epoch e visits this pipeline's records once, in an order
  drawn from (seed, e): the files in an order keyed by (seed, e), then a
  `shuffle_buffer_size` buffer seeded by the seed. With a seed
  the stream is therefore a function of the seed alone, and a run resumed at `start_step`
  reads exactly the batches the uninterrupted run would have read from there: it starts at
  the epoch that step falls in and skips what that epoch had already given (at most one epoch
  read; the records are counted first).

  Args:
    patterns: Comma-separated file patterns (or a list); each must match a file.
    global_batch_size: Batch size over all replicas.
    profile_2d, profile_3d: Profile names of the stored keypoints (profile_3d may be None).
    shuffle_buffer_size: Records held for shuffling (<= 1: read in file order).
    seed: Shuffle seed (None: a different order every run).
    num_epochs: None repeats forever.
    input_context: A `tf.distribute.InputContext` (several workers shard by file, or by record
      when there are fewer files than workers).
    start_step: Global steps already trained: the batches they consumed are skipped.
    with_metadata: Also parse `records.PAIR_METADATA` (clip, frames, cameras).

  Returns:
    A dataset of dicts as `records.parse_pair_example` returns, batched per replica.
  """
  files = records.expand_patterns(patterns)
  records.check_first_record(
      files[0], records.instance_feature_spec(records.NUM_PAIR_INSTANCES, profile_2d,
                                              profile_3d))
  batch_size, pipelines, pipeline_id = global_batch_size, 1, 0
  if input_context is not None:
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    pipelines, pipeline_id = (input_context.num_input_pipelines,
                              input_context.input_pipeline_id)
  shard_records = pipelines > 1 and len(files) < pipelines
  if pipelines > 1 and not shard_records:
    files = files[pipeline_id::pipelines]
  shuffle = shuffle_buffer_size > 1

  def epoch(index, shuffled=shuffle):
    names = tf.constant(files)
    if shuffled:  # the file order of epoch `index`: stateless, keyed by (seed, index)
      if seed is None:
        names = tf.random.shuffle(names)
      else:
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])
        names = tf.gather(names, tf.argsort(tf.random.stateless_uniform([len(files)], key)))
    dataset = tf.data.Dataset.from_tensor_slices(names)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                                 num_parallel_calls=_AUTOTUNE, deterministic=seed is not None)
    if shard_records:
      dataset = dataset.shard(pipelines, pipeline_id)
    if shuffled:  # the buffer draws the same positions each epoch, from another file order
      dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
    return dataset

  first_epoch, skip = 0, 0
  if start_step:
    # Records this pipeline gave per step: its replicas' batches.
    consumed = start_step * (global_batch_size // pipelines)
    per_epoch = int(epoch(tf.constant(0, tf.int64), shuffled=False).reduce(
        tf.constant(0, tf.int64), lambda count, _: count + 1))
    if per_epoch == 0:
      raise errors.InputError(f'No records in {patterns} for input pipeline {pipeline_id}.')
    first_epoch, skip = divmod(consumed, per_epoch)
  epochs = tf.data.Dataset.counter(first_epoch)
  if num_epochs is not None:
    epochs = epochs.take(max(num_epochs - first_epoch, 0))
  dataset = epochs.flat_map(epoch).skip(skip)
  dataset = dataset.batch(batch_size, drop_remainder=True)
  dataset = dataset.map(
      lambda serialized: records.parse_pair_example(serialized, profile_2d, profile_3d,
                                                    with_metadata=with_metadata),
      num_parallel_calls=_AUTOTUNE)
  return dataset.prefetch(_AUTOTUNE)


def make_model_inputs(batch, input_type, profile_2d, profile_3d=None, shuffle=True,
                      seed=None, features=(), **projection_kwargs):
  """The model inputs of a parsed batch of pair records, as the algorithms read them.

  Returns ({feature: tensor}, {statistic: scalar}): `ANCHOR` and `POSITIVE` normalised 2D
  poses [b, J, 2] and each of `features` (`OPTIONAL_FEATURES`): `POSES_3D` the pairs' 3D poses
  normalised by the 3D profile [b, 2, J3, 3]; `CLIPS` [b] and `CAMERAS` [b, 2] int64 ids
  (hashes of the records' `source_id` and cameras: equal strings, equal ids; a pose projected
  from 3D by a random virtual camera has `UNKNOWN_CAMERA`); `FRAMES` [b]
  the frame index. Every feature is gathered in the same (shuffled) row order. The statistic
  is the fraction of the virtual views used for which the camera guard moved the camera.
  `projection_kwargs`: the virtual cameras' ranges and guard (`cameras.create_model_input`).
  """
  unknown = sorted(set(features) - set(OPTIONAL_FEATURES))
  if unknown:
    raise errors.InputError(f'Unknown input features {unknown}; valid: {list(OPTIONAL_FEATURES)}.')
  keypoints_2d = keypoints.to_pixels(batch[records.KEYPOINTS_2D], batch[records.IMAGE_SIZES])
  keypoints_3d = batch.get(records.KEYPOINTS_3D)
  pairs, guarded_fraction, projected = cameras.create_model_input(
      keypoints_2d, keypoints_3d, input_type, profile_2d, profile_3d, seed=seed,
      return_guarded_fraction=True, return_projected=True,
      **projection_kwargs)  # [b, 2, J, 2], [b, 2]
  inputs = {ANCHOR: pairs[:, 0], POSITIVE: pairs[:, 1]}
  if POSES_3D in features:
    inputs[POSES_3D], _, _ = keypoints.get_profile(profile_3d).normalize(keypoints_3d)
  if CLIPS in features:
    inputs[CLIPS] = _ids(batch[records.SOURCE_ID])
  if FRAMES in features:
    inputs[FRAMES] = batch[records.FRAME_INDEX][:, 0]
  if CAMERAS in features:
    ids = _ids(batch[records.CAMERA])
    inputs[CAMERAS] = tf.where(projected, UNKNOWN_CAMERA * tf.ones_like(ids), ids)
  if shuffle:
    order = random_keys.permutation(tf.shape(pairs)[0], seed=random_keys.derive(seed, 5))
    inputs = {name: tf.gather(value, order) for name, value in inputs.items()}
  return inputs, {GUARDED_VIEW_FRACTION: guarded_fraction}


def _ids(strings):
  """int64 ids of strings (a fingerprint: the same in every process and on every replica)."""
  return tf.strings.to_hash_bucket_fast(strings, 2**62)
