"""Input pipeline of representation training (SPEC §5.6, §9).

Records are read as raw strings, batched, then parsed a batch at a time with
`tf.io.parse_example` (about 10x faster here than parsing one record at a time). Model inputs
are made inside the compiled step: 2D keypoints are denormalised by image size, mixed with
random projections of the 3D pose by input type, profile-normalised, shuffled within the batch
and split into anchors and positives.
"""

import tensorflow as tf

from poem_cvmim import cameras
from poem_cvmim import records

_AUTOTUNE = tf.data.AUTOTUNE


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
  sizes = tf.cast(batch[records.IMAGE_SIZES], tf.float32)  # [b, 2, 2] (height, width)
  keypoints_2d = batch[records.KEYPOINTS_2D] * sizes[..., tf.newaxis, :]
  keypoints_3d = batch.get(records.KEYPOINTS_3D)
  inputs, guarded_fraction = cameras.create_model_input(
      keypoints_2d, keypoints_3d, input_type, profile_2d, profile_3d, seed=seed,
      return_guarded_fraction=True)  # [b, 2, J, 2]
  if shuffle:
    inputs = tf.gather(inputs, tf.random.shuffle(tf.range(tf.shape(inputs)[0]), seed=seed))
  return inputs[:, 0], inputs[:, 1], guarded_fraction
