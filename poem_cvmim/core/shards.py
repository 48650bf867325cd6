"""Deterministic sharded TFRecord writing and the dataset manifest (docs/records.md).

Shards are named `<split>-<view>-%05d-of-%05d.tfrecord` (or `<split>-%05d-of-%05d.tfrecord`
without a view), so a split or one view is selected with a file pattern. Records go to hidden
temporary files that are renamed only when the writer closes: a shard a reader can see is
complete. `manifest.json` records counts, classes, views, skipped inputs and shard hashes.
"""

import collections
import hashlib
import json
import os
from typing import Optional, Sequence

import tensorflow as tf

MANIFEST_NAME = 'manifest.json'
SHARD_SUFFIX = '.tfrecord'
DEFAULT_RECORDS_PER_SHARD = 1000


def shard_prefix(split: str, view: Optional[str] = None) -> str:
  return split if view is None else f'{split}-{view}'


def shard_pattern(directory: str, split: str, view: Optional[str] = None) -> str:
  """Glob pattern for the shards of a split (all views, or one view)."""
  middle = f'{split}-*' if view is None else f'{split}-{view}-'
  return os.path.join(directory, f'{middle}[0-9]*-of-*{SHARD_SUFFIX}')


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


class ShardedWriter:
  """Streams records of one group into shards of at most `records_per_shard` records."""

  def __init__(self, directory: str, prefix: str, records_per_shard: int):
    if records_per_shard <= 0:
      raise ValueError(f'records_per_shard must be positive, got {records_per_shard}.')
    self._directory = directory
    self._prefix = prefix
    self._records_per_shard = records_per_shard
    self._temp_paths = []
    self._writer = None
    self._count = 0

  @property
  def count(self) -> int:
    return self._count

  def write(self, serialized: bytes) -> None:
    if self._count % self._records_per_shard == 0:
      self._open_next()
    self._writer.write(serialized)
    self._count += 1

  def _open_next(self):
    if self._writer is not None:
      self._writer.close()
    path = os.path.join(self._directory,
                        f'.{self._prefix}-{len(self._temp_paths):05d}{SHARD_SUFFIX}.tmp')
    self._temp_paths.append(path)
    self._writer = tf.io.TFRecordWriter(path)

  def abort(self) -> None:
    """Closes and deletes the unfinished shards (nothing half-written stays behind)."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None
    for temp in self._temp_paths:
      if os.path.exists(temp):
        os.remove(temp)
    self._temp_paths = []

  def close(self) -> list:
    """Renames the finished shards to their final names; returns the final paths."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None
    total = len(self._temp_paths)
    finals = []
    for index, temp in enumerate(self._temp_paths):
      final = os.path.join(self._directory,
                           f'{self._prefix}-{index:05d}-of-{total:05d}{SHARD_SUFFIX}')
      os.replace(temp, final)
      finals.append(final)
    return finals


class DatasetWriter:
  """Writes the shards of one dataset directory, counting what goes where, and the manifest.

  Args:
    directory: Output directory (created). Shards from an earlier run are refused unless
      `overwrite`, which removes them first.
    dataset: Dataset name for the manifest.
    classes: Ordered class names (index = label), or None for unlabelled records.
    views: Ordered view names, or None to list the views seen, sorted.
    sources: Input paths (or a description) for the manifest.
    records_per_shard: Shard size.
  """

  def __init__(self, directory: str, dataset: str, classes: Optional[Sequence[str]] = None,
               views: Optional[Sequence[str]] = None, sources: Sequence[str] = (),
               records_per_shard: int = DEFAULT_RECORDS_PER_SHARD, overwrite: bool = False):
    os.makedirs(directory, exist_ok=True)
    old = sorted(f for f in os.listdir(directory)
                 if f.endswith(SHARD_SUFFIX) or f == MANIFEST_NAME or f.endswith('.tmp'))
    if old and not overwrite:
      raise FileExistsError(f'{directory} already holds {len(old)} shard/manifest files '
                            f'(e.g. {old[0]}); pass overwrite to replace them.')
    for name in old:
      os.remove(os.path.join(directory, name))
    self.directory = directory
    self._dataset = dataset
    self._classes = list(classes) if classes is not None else None
    self._views = list(views) if views is not None else None
    self._sources = list(sources)
    self._records_per_shard = records_per_shard
    self._writers = {}
    self._counts = collections.defaultdict(
        lambda: {'views': collections.Counter(), 'classes': collections.Counter()})
    self._skipped = []

  def write(self, serialized: bytes, split: str, view: Optional[str] = None,
            labels: Sequence[int] = ()) -> None:
    """Appends one record to the shards of (split, view)."""
    if self._views is not None and view is not None and view not in self._views:
      raise ValueError(f'Unknown view {view!r}; declared views: {self._views}.')
    key = (split, view)
    if key not in self._writers:
      self._writers[key] = ShardedWriter(self.directory, shard_prefix(split, view),
                                         self._records_per_shard)
    self._writers[key].write(serialized)
    counts = self._counts[split]
    if view is not None:
      counts['views'][view] += 1
    for label in labels:
      counts['classes'][self._class_name(label)] += 1

  def count(self, split: str, view: Optional[str] = None) -> int:
    """Records written so far to (split, view)."""
    writer = self._writers.get((split, view))
    return writer.count if writer else 0

  def _class_name(self, label: int) -> str:
    if self._classes is None:
      return str(label)
    if not 0 <= label < len(self._classes):
      raise ValueError(f'Label {label} outside the {len(self._classes)} classes.')
    return self._classes[label]

  def skip(self, source: str, reason: str, line: Optional[int] = None) -> None:
    """Lists an input that was not converted, with why (and the line, where known)."""
    entry = {'source': source, 'reason': reason}
    if line is not None:
      entry['line'] = int(line)
    self._skipped.append(entry)

  def abort(self) -> None:
    """Deletes every unfinished shard; no manifest is written (after an error)."""
    for writer in self._writers.values():
      writer.abort()
    self._writers = {}

  def close(self, extra: Optional[dict] = None) -> dict:
    """Finishes every shard and writes `manifest.json`; returns the manifest."""
    shards = {}
    for key in sorted(self._writers, key=lambda k: (k[0], k[1] or '')):
      for path in self._writers[key].close():
        shards[os.path.basename(path)] = file_sha256(path)
    splits = {}
    for key in sorted(self._writers, key=lambda k: (k[0], k[1] or '')):
      split = key[0]
      entry = splits.setdefault(split, {'num_records': 0, 'views': {}, 'classes': {}})
      entry['num_records'] += self._writers[key].count
    for split, entry in splits.items():
      entry['views'] = dict(sorted(self._counts[split]['views'].items()))
      entry['classes'] = dict(sorted(self._counts[split]['classes'].items()))
    seen_views = sorted({k[1] for k in self._writers if k[1] is not None})
    manifest = {
        'dataset': self._dataset,
        'sources': self._sources,
        'num_records': sum(w.count for w in self._writers.values()),
        'splits': splits,
        'classes': self._classes or [],
        'views': self._views if self._views is not None else seen_views,
        'skipped': self._skipped,
        'shards': shards,
    }
    manifest.update(extra or {})
    write_json_atomic(os.path.join(self.directory, MANIFEST_NAME), manifest)
    return manifest


def write_json_atomic(path: str, data) -> None:
  temp = path + '.tmp'
  with open(temp, 'w') as f:
    json.dump(data, f, indent=2, sort_keys=False)
    f.write('\n')
  os.replace(temp, path)


def read_manifest(directory: str) -> dict:
  path = os.path.join(directory, MANIFEST_NAME)
  if not os.path.exists(path):
    raise FileNotFoundError(f'No {MANIFEST_NAME} in {directory}: convert or generate the '
                            'dataset first.')
  with open(path) as f:
    return json.load(f)
