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
from poem_cvmim.core import keypoints
from poem_cvmim.core import records

_AUTOTUNE = tf.data.AUTOTUNE
INPUT_2D = cameras.INPUT_2D
# Logged beside the loss terms: of the virtual views used as input in the step, the fraction
# for which the camera guard moved the camera back (poem_cvmim.core.cameras).
GUARDED_VIEW_FRACTION = 'input/guarded_view_fraction'
STATISTIC_NAMES = (GUARDED_VIEW_FRACTION,)


@dataclasses.dataclass(frozen=True)
class InputSpec:
  """How model inputs are made from parsed pair records (docs/cameras.md)."""
  input_type: str = cameras.INPUT_2D_AND_3D_PROJECTION
  profile_2d: str = keypoints.LEGACY_2DCOCO13
  profile_3d: Optional[str] = keypoints.LEGACY_3DH36M17
  shuffle: bool = True  # shuffle each batch inside the step, as the original

  @classmethod
  def from_config(cls, config) -> 'InputSpec':
    """From a TrainConfig (input_type, profile_2d, profile_3d, shuffle_in_step)."""
    return cls(config.input_type, config.profile_2d, config.profile_3d, config.shuffle_in_step)

  @property
  def num_joints(self) -> int:
    return keypoints.get_profile(self.profile_2d).keypoint_num


def pair_dataset(patterns, global_batch_size, profile_2d, profile_3d, shuffle_buffer_size=4096,
                 seed=None, num_epochs=None, input_context=None):
  """Batches of parsed pair records for one input pipeline.

  Args:
    patterns: Comma-separated file patterns (or a list); each must match a file.
    global_batch_size: Batch size over all replicas.
    profile_2d, profile_3d: Profile names of the stored keypoints (profile_3d may be None).
    shuffle_buffer_size: Records held for shuffling.
    seed: Shuffle seed.
    num_epochs: None repeats forever.
    input_context: A `tf.distribute.InputContext` (several workers shard by file, or by record
      when there are fewer files than workers).

  Returns:
    A dataset of dicts as `records.parse_pair_example` returns, batched per replica.
  """
  files = records.expand_patterns(patterns)
  records.check_first_record(
      files[0], records.instance_feature_spec(records.NUM_PAIR_INSTANCES, profile_2d,
                                              profile_3d))
  batch_size = global_batch_size
  dataset = tf.data.Dataset.from_tensor_slices(files)
  shard_records = False
  if input_context is not None:
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    if input_context.num_input_pipelines > 1:
      if len(files) >= input_context.num_input_pipelines:
        dataset = dataset.shard(input_context.num_input_pipelines,
                                input_context.input_pipeline_id)
      else:
        shard_records = True
  if shuffle_buffer_size > 1:
    dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                               num_parallel_calls=_AUTOTUNE, deterministic=seed is not None)
  if shard_records:
    dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  dataset = dataset.repeat(num_epochs)
  if shuffle_buffer_size > 1:
    dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
  dataset = dataset.batch(batch_size, drop_remainder=True)
  dataset = dataset.map(
      lambda serialized: records.parse_pair_example(serialized, profile_2d, profile_3d),
      num_parallel_calls=_AUTOTUNE)
  return dataset.prefetch(_AUTOTUNE)


def make_model_inputs(batch, input_type, profile_2d, profile_3d=None, shuffle=True,
                      seed=None):
  """Normalised (anchor, positive) 2D poses [b, J, 2] from a parsed batch of pair records,
  and the fraction of the virtual views used for which the camera guard moved the camera."""
  keypoints_2d = keypoints.to_pixels(batch[records.KEYPOINTS_2D], batch[records.IMAGE_SIZES])
  keypoints_3d = batch.get(records.KEYPOINTS_3D)
  inputs, guarded_fraction = cameras.create_model_input(
      keypoints_2d, keypoints_3d, input_type, profile_2d, profile_3d, seed=seed,
      return_guarded_fraction=True)  # [b, 2, J, 2]
  if shuffle:
    inputs = tf.gather(inputs, tf.random.shuffle(tf.range(tf.shape(inputs)[0]), seed=seed))
  return inputs[:, 0], inputs[:, 1], guarded_fraction
