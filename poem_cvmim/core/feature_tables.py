"""Feature tables in memory: the clips of (views of) one split of a feature table.

A feature table is a directory of sequence records whose `feature/data` holds per-frame
features [T', D], sharded `<split>-<view>-...`, with a manifest (docs/records.md).
"""

import dataclasses
import glob
from typing import Optional

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import records
from poem_cvmim.core import shards

tf = lazy_tensorflow.deferred

# A feature table's manifest keys beside the shards' own (written by
# `evaluation.features.write_feature_table`, read here and by the protocols).
EMBEDDER = 'embedder'  # the embedder's name (a run directory's carries its step: name@step)
FEATURE_DIM = 'feature_dim'  # D
SEQUENCE_LENGTH = 'sequence_length'  # T' (after downsampling)
DOWNSAMPLE_RATE = 'downsample_rate'
SOURCE_SEQUENCE_LENGTH = 'source_sequence_length'  # T of the sequence records


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
  if FEATURE_DIM not in manifest:
    raise errors.InputError(f'{feature_dir} is not a feature table (no feature_dim in its '
                            'manifest): make one with python -m poem_cvmim.extract_features.')
  stored_dim, length = manifest[FEATURE_DIM], manifest[SEQUENCE_LENGTH]
  if feature_dim is not None and feature_dim != stored_dim:
    raise errors.InputError(f'{feature_dir} holds features of width {stored_dim}, but the '
                            f'classifier expects {feature_dim}.')
  available = manifest['views']
  views = available if views is None else list(views)
  unknown = [v for v in views if v not in available]
  if unknown:
    raise errors.InputError(f'Unknown view(s) {unknown}; {feature_dir} has views {available}.')
  files = [f for v in views for f in sorted(glob.glob(shards.shard_pattern(feature_dir, split,
                                                                           v)))]
  shards.verify_shards(feature_dir, files)
  if not files:
    raise errors.InputError(f'{feature_dir} has no {split!r} clips of views {views}; splits: '
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
  result = FeatureSet(**{k: np.concatenate(v) for k, v in parts.items()})
  for view in views:
    shards.check_count(feature_dir, manifest, split, view, int(np.sum(result.views == view)),
                       'clips')
  bad = np.flatnonzero(~np.isfinite(result.features).all(axis=(1, 2)))
  if len(bad):
    raise errors.InputError(f'{feature_dir}: {len(bad)} {split} clip(s) hold NaN or Inf features '
                            f'(first: subject {result.subjects[bad[0]]}, view '
                            f'{result.views[bad[0]]}); '
                            'extract the features again from finite keypoints.')
  return result
