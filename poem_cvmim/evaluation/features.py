"""Per-frame features of sequence records, cached as feature tables (docs/protocols.md).

A feature table holds `feature/data` ([T', D] flattened), labels and metadata, sharded
`<split>-<view>-...` like the sequence records it came from, with a manifest. Computing z_p
once and caching it is much faster than re-running the encoder every classifier step.
"""

import glob
import math
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import feature_tables
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards
from poem_cvmim.evaluation import embedders

_ENCODE_BATCH = 4096  # poses per encoder call


def normalized_frames(parsed: dict, profile_2d: str, downsample_rate: int) -> tf.Tensor:
  """Profile-normalised 2D [B, T', 13, 2] from parsed sequence records, every n-th frame."""
  pixels = keypoints.to_pixels(parsed[records.KEYPOINTS_2D][:, ::downsample_rate],
                              parsed[records.IMAGE_SIZES][:, ::downsample_rate])
  normalized, _, _ = keypoints.get_profile(profile_2d).normalize(pixels)
  return normalized


def embed_frames(embedder: embedders.Embedder, frames: tf.Tensor) -> np.ndarray:
  """[B, T', 13, 2] -> [B, T', D] through the embedder in large batches."""
  batch, length = int(frames.shape[0]), int(frames.shape[1])
  flat = tf.reshape(frames, [-1, frames.shape[2], 2])
  outputs = [embedder.fn(flat[i:i + _ENCODE_BATCH]).numpy()
             for i in range(0, batch * length, _ENCODE_BATCH)]
  return np.concatenate(outputs).reshape(batch, length, embedder.dim)


def check_sequence_length(path: str, num_frames: int) -> None:
  """A clear error naming both numbers when the records hold another T than expected."""
  for raw in tf.data.TFRecordDataset(path).take(1):
    stored = records.stored_length(raw.numpy())
    if stored != num_frames:
      raise errors.InputError(f'{path} holds sequences of {stored} frames, but num_frames is '
                              f'{num_frames}.')


def _with_detections(parsed: dict, detections: Callable, view: str) -> dict:
  sizes = parsed[records.IMAGE_SIZES].numpy()
  pixels = keypoints.to_pixels(parsed[records.KEYPOINTS_2D].numpy(), sizes)
  replaced = detections(pixels, parsed['num_frames'].numpy(),
                        parsed['source_id'].numpy().astype(str), view)
  return dict(parsed, **{records.KEYPOINTS_2D: tf.constant(
      keypoints.to_unit(np.asarray(replaced, np.float64), sizes),
      parsed[records.KEYPOINTS_2D].dtype)})


def write_feature_table(sequence_dir: str, output_dir: str, embedder: embedders.Embedder,
                        downsample_rate: int = 1, num_frames: Optional[int] = None,
                        profile_2d: str = keypoints.LEGACY_2DCOCO13, batch_size: int = 64,
                        overwrite: bool = False, log=print,
                        detections: Optional[Callable] = None) -> dict:
  """Computes features of every sequence record under `sequence_dir`; returns the manifest.

  `detections(pixels [B, T, 13, 2], num_frames [B], source_ids [B], view) -> pixels` (numpy,
  (y, x) pixels; a clip's real frames first, then replayed) replaces the records' 2D before
  normalisation: a detector model, a refiner (experiments/refiner_action.py)."""
  source = shards.read_manifest(sequence_dir)
  if 'sequence_length' not in source or not source.get('views'):
    raise errors.InputError(f'{sequence_dir} holds {source.get("dataset", "other")} records, not '
                            'sequence records (a pairs/ directory?): give a directory of clips, '
                            'such as penn_like/ or sequences/.')
  num_frames = num_frames or source['sequence_length']
  if downsample_rate < 1:
    raise errors.InputError(f'downsample_rate must be >= 1, got {downsample_rate}.')
  classes, views = source['classes'], source['views']
  writer = shards.DatasetWriter(output_dir, f'{source["dataset"]}_features', classes=classes,
                                views=views, sources=[sequence_dir], overwrite=overwrite)
  with writer:  # a failure drops the unfinished table (its staging directory and lock)
    length = math.ceil(num_frames / downsample_rate)
    parse = records.sequence_parser(num_frames, num_classes=len(classes), profile_2d=profile_2d)
    for split in sorted(source['splits']):
      for view in views:
        files = sorted(glob.glob(shards.shard_pattern(sequence_dir, split, view)))
        shards.verify_shards(sequence_dir, files)
        if not files:
          continue
        check_sequence_length(files[0], num_frames)
        records.check_first_record(
            files[0], records.sequence_feature_spec(num_frames, profile_2d=profile_2d),
            f'(the 2D keypoints of profile {profile_2d})')
        for serialized in tf.data.TFRecordDataset(files).batch(batch_size):
          parsed = parse(serialized)
          records.check_finite_keypoints(parsed, sequence_dir, split, view)
          if detections is not None:
            parsed = _with_detections(parsed, detections, view)
          values = embed_frames(embedder, normalized_frames(parsed, profile_2d,
                                                            downsample_rate))
          labels = parsed[records.CLASS_TARGETS].numpy()
          subjects, source_ids = parsed['subject'].numpy(), parsed['source_id'].numpy()
          frame_counts = parsed['num_frames'].numpy()
          for i in range(len(values)):
            true_length = math.ceil(int(frame_counts[i]) / downsample_rate) or length
            clip_labels = np.flatnonzero(labels[i]).tolist()
            writer.write(records.serialize(records.make_feature_example(
                values[i], clip_labels,
                {'view': view, 'subject': subjects[i], 'source_id': source_ids[i],
                 'num_frames': true_length})),
                split, view, clip_labels)
        shards.check_count(sequence_dir, source, split, view, writer.count(split, view),
                           'clips')
        log(f'[features] {split}/{view}: {writer.count(split, view)} clips')
    return writer.close({feature_tables.EMBEDDER: embedder.name,
                         feature_tables.FEATURE_DIM: embedder.dim,
                         feature_tables.SEQUENCE_LENGTH: length,
                         feature_tables.DOWNSAMPLE_RATE: downsample_rate,
                         feature_tables.SOURCE_SEQUENCE_LENGTH: num_frames})


