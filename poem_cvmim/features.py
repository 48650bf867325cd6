"""Per-frame features of sequence records (SPEC §7.1), cached as feature tables.

A feature table is a directory of records holding `feature/data` ([T', D] flattened), labels
and metadata, sharded `<split>-<view>-...` like the sequence records it came from, with a
manifest. Computing z_p once and caching it is much faster than re-running E every step.

Embedders map profile-normalised poses [N, 13, 2] to per-frame features [N, D]:
- `raw`: the normalised keypoints flattened (26 values), the raw-keypoint baseline;
- a training directory (config.json + checkpoints): the encoder's z_p (ALIGN: all dims);
- an exported SavedModel directory: its `embed_normalized` signature's pose embedding.
"""

import dataclasses
import glob
import math
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from poem_cvmim import keypoints
from poem_cvmim import records
from poem_cvmim import shards
from poem_cvmim import trainer

RAW = 'raw'
_ENCODE_BATCH = 4096  # poses per encoder call


@dataclasses.dataclass(frozen=True)
class Embedder:
  name: str
  dim: int
  fn: Callable  # normalised poses [N, 13, 2] float32 -> [N, dim]


def load_embedder(source: str) -> Embedder:
  """`raw`, a training directory or a SavedModel directory (see the module docstring)."""
  if source == RAW:
    return Embedder(RAW, 26, lambda x: tf.reshape(x, [tf.shape(x)[0], -1]))
  if os.path.exists(os.path.join(source, 'saved_model.pb')):
    signature = tf.saved_model.load(source).signatures['embed_normalized']
    fn = lambda x: signature(keypoints=tf.cast(x, tf.float32))['pose_embedding']
    dim = int(fn(tf.zeros([1, 13, 2])).shape[-1])
    return Embedder(source, dim, fn)
  if os.path.exists(os.path.join(source, trainer.CONFIG_NAME)):
    algorithm, _, step = trainer.load_algorithm(source)
    encode = tf.function(lambda x: algorithm.embed(x)[0])
    return Embedder(f'{source}@{step}', algorithm.pose_dim, encode)
  raise ValueError(f'Embedder {source!r} is neither {RAW!r}, a training directory '
                   f'(with {trainer.CONFIG_NAME}) nor a SavedModel directory.')


def normalized_frames(parsed: dict, profile_2d: str, downsample_rate: int) -> tf.Tensor:
  """Profile-normalised 2D [B, T', 13, 2] from parsed sequence records, every n-th frame."""
  sizes = tf.cast(parsed[records.IMAGE_SIZES], tf.float32)[..., tf.newaxis, :]
  pixels = parsed[records.KEYPOINTS_2D][:, ::downsample_rate] * sizes[:, ::downsample_rate]
  normalized, _, _ = keypoints.get_profile(profile_2d).normalize(pixels)
  return normalized


def embed_frames(embedder: Embedder, frames: tf.Tensor) -> np.ndarray:
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
      raise ValueError(f'{path} holds sequences of {stored} frames, but num_frames is '
                       f'{num_frames}.')


def write_feature_table(sequence_dir: str, output_dir: str, embedder: Embedder,
                        downsample_rate: int = 1, num_frames: Optional[int] = None,
                        profile_2d: str = keypoints.LEGACY_2DCOCO13, batch_size: int = 64,
                        overwrite: bool = False, log=print) -> dict:
  """Computes features of every sequence record under `sequence_dir`; returns the manifest."""
  source = shards.read_manifest(sequence_dir)
  num_frames = num_frames or source['sequence_length']
  if downsample_rate < 1:
    raise ValueError(f'downsample_rate must be >= 1, got {downsample_rate}.')
  classes, views = source['classes'], source['views']
  writer = shards.DatasetWriter(output_dir, f'{source["dataset"]}_features', classes=classes,
                                views=views, sources=[sequence_dir], overwrite=overwrite)
  length = math.ceil(num_frames / downsample_rate)
  for split in sorted(source['splits']):
    for view in views:
      files = sorted(glob.glob(shards.shard_pattern(sequence_dir, split, view)))
      if not files:
        continue
      check_sequence_length(files[0], num_frames)
      dataset = tf.data.TFRecordDataset(files).batch(batch_size).map(
          lambda s: records.parse_sequence_example(s, num_frames, len(classes), profile_2d))
      for parsed in dataset:
        values = embed_frames(embedder, normalized_frames(parsed, profile_2d,
                                                          downsample_rate))
        labels = parsed[records.CLASS_TARGETS].numpy()
        for i in range(len(values)):
          true_length = math.ceil(int(parsed['num_frames'][i]) / downsample_rate) or length
          writer.write(records.serialize(records.make_feature_example(
              values[i], np.flatnonzero(labels[i]).tolist(),
              {'view': view, 'subject': parsed['subject'][i].numpy(),
               'source_id': parsed['source_id'][i].numpy(), 'num_frames': true_length})),
              split, view, np.flatnonzero(labels[i]).tolist())
      log(f'[features] {split}/{view}: {writer.count(split, view)} clips')
  return writer.close({'embedder': embedder.name, 'feature_dim': embedder.dim,
                       'sequence_length': length, 'downsample_rate': downsample_rate,
                       'source_sequence_length': num_frames})


@dataclasses.dataclass
class FeatureSet:
  """Clips of a feature table in memory."""
  features: np.ndarray  # [N, T', D] float32
  labels: np.ndarray  # [N] int
  views: np.ndarray  # [N] str
  subjects: np.ndarray  # [N] str

  def __len__(self):
    return len(self.labels)

  def select(self, mask) -> 'FeatureSet':
    return FeatureSet(self.features[mask], self.labels[mask], self.views[mask],
                      self.subjects[mask])


def load_feature_set(feature_dir: str, split: str, views=None,
                     feature_dim: Optional[int] = None) -> FeatureSet:
  """Reads (views of) one split of a feature table; checks the width against `feature_dim`."""
  manifest = shards.read_manifest(feature_dir)
  stored_dim, length = manifest['feature_dim'], manifest['sequence_length']
  if feature_dim is not None and feature_dim != stored_dim:
    raise ValueError(f'{feature_dir} holds features of width {stored_dim}, but the classifier '
                     f'expects {feature_dim}.')
  available = manifest['views']
  views = available if views is None else list(views)
  unknown = [v for v in views if v not in available]
  if unknown:
    raise ValueError(f'Unknown view(s) {unknown}; {feature_dir} has views {available}.')
  files = [f for v in views for f in sorted(glob.glob(shards.shard_pattern(feature_dir, split,
                                                                           v)))]
  if not files:
    raise ValueError(f'{feature_dir} has no {split!r} clips of views {views}; splits: '
                     f'{sorted(manifest["splits"])}.')
  parts = {'features': [], 'labels': [], 'views': [], 'subjects': []}
  num_classes = len(manifest['classes'])
  for batch in tf.data.TFRecordDataset(files).batch(512):
    parsed = records.parse_sequence_example(batch, length, num_classes, feature_dim=stored_dim,
                                            include_keypoints=False)
    parts['features'].append(parsed[records.FEATURES].numpy())
    parts['labels'].append(np.argmax(parsed[records.CLASS_TARGETS].numpy(), axis=-1))
    parts['views'].append(parsed['view'].numpy().astype(str))
    parts['subjects'].append(parsed['subject'].numpy().astype(str))
  return FeatureSet(**{k: np.concatenate(v) for k, v in parts.items()})
