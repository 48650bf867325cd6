"""Deterministic sharded TFRecord writing and the dataset manifest (docs/records.md).

Shards are named `<split>-<view>-%05d-of-%05d.tfrecord` (or `<split>-%05d-of-%05d.tfrecord`
without a view), so a split or one view is selected with a file pattern. Records go to hidden
temporary files that are renamed only when the writer closes: a shard a reader can see is
complete. `manifest.json` records counts, classes, views, skipped inputs and shard hashes.
"""

import collections
import contextlib
import json
import os
import shutil
from typing import Optional, Sequence

from poem_cvmim.core import errors
from poem_cvmim.core import run_dirs
from poem_cvmim.core import tfrecord_files

MANIFEST_NAME = run_dirs.MANIFEST_NAME
SHARD_SUFFIX = '.tfrecord'
DEFAULT_RECORDS_PER_SHARD = 1000


def shard_prefix(split: str, view: Optional[str] = None) -> str:
  return split if view is None else f'{split}-{view}'


def shard_pattern(directory: str, split: str, view: Optional[str] = None) -> str:
  """Glob pattern for the shards of a split (all views, or one view)."""
  middle = f'{split}-*' if view is None else f'{split}-{view}-'
  return os.path.join(directory, f'{middle}[0-9]*-of-*{SHARD_SUFFIX}')


file_sha256 = run_dirs.file_sha256
write_json_atomic = run_dirs.write_json_atomic


class ShardedWriter:
  """Streams records of one group into shards of at most `records_per_shard` records."""

  def __init__(self, directory: str, prefix: str, records_per_shard: int):
    if records_per_shard <= 0:
      raise errors.InputError(f'records_per_shard must be positive, got {records_per_shard}.')
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
    self._writer = tfrecord_files.TFRecordWriter(path)

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


def _is_dataset_file(name: str) -> bool:
  return name.endswith(SHARD_SUFFIX) or name == MANIFEST_NAME or name.endswith('.tmp')


class DatasetWriter:
  """Writes the shards of one dataset directory, counting what goes where, and the manifest.

  The new dataset is written to a hidden directory beside the output (`.<name>.new-<pid>`)
  and swapped in by `close` only when complete: a killed or failing conversion leaves the
  previous dataset (or none) in place, never a mix. A lock beside the directory refuses a
  second writer while one is alive.

  Args:
    directory: Output directory. A dataset already there is refused unless `overwrite`.
    dataset: Dataset name for the manifest.
    classes: Ordered class names (index = label), or None for unlabelled records.
    views: Ordered view names, or None to list the views seen, sorted.
    sources: Input paths (or a description) for the manifest.
    records_per_shard: Shard size.
  """

  def __init__(self, directory: str, dataset: str, classes: Optional[Sequence[str]] = None,
               views: Optional[Sequence[str]] = None, sources: Sequence[str] = (),
               records_per_shard: int = DEFAULT_RECORDS_PER_SHARD, overwrite: bool = False):
    if os.path.exists(directory) and not os.path.isdir(directory):
      raise FileExistsError(f'{directory} is a file, not a directory: choose another output '
                            'directory.')
    parent, name = os.path.split(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    self._lock = run_dirs.DirectoryLock(directory, beside=True).acquire()
    try:
      _recover(parent, name, directory)
      old = sorted(f for f in os.listdir(directory) if _is_dataset_file(f)) if os.path.isdir(
          directory) else []
      if old and not overwrite:
        raise FileExistsError(f'{directory} already holds a dataset ({len(old)} shard/manifest '
                              f'files, e.g. {old[0]}); pass --overwrite to replace it.')
      self._staging = os.path.join(parent, f'.{name}.new-{os.getpid()}')
      if os.path.exists(self._staging):
        shutil.rmtree(self._staging)
      os.makedirs(self._staging)
    except BaseException:
      self._lock.release()
      raise
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
      raise errors.InputError(f'Unknown view {view!r}; declared views: {self._views}.')
    key = (split, view)
    with self._aborted_on_failure():
      if key not in self._writers:
        self._writers[key] = ShardedWriter(self._staging, shard_prefix(split, view),
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
      raise errors.InputError(f'Label {label} outside the {len(self._classes)} classes.')
    return self._classes[label]

  def skip(self, source: str, reason: str, line: Optional[int] = None) -> None:
    """Lists an input that was not converted, with why (and the line, where known)."""
    entry = {'source': source, 'reason': reason}
    if line is not None:
      entry['line'] = int(line)
    self._skipped.append(entry)

  def abort(self) -> None:
    """Drops the new dataset; the previous one (if any) stays as it was (idempotent)."""
    for writer in self._writers.values():
      try:
        writer.abort()
      except OSError:
        pass  # its file goes with the staging directory
    self._writers = {}
    shutil.rmtree(self._staging, ignore_errors=True)
    self._lock.release()

  def __enter__(self) -> 'DatasetWriter':
    return self

  def __exit__(self, error_type, error, traceback):
    if error_type is not None:  # whatever failed between writes: nothing is left behind
      self.abort()

  @contextlib.contextmanager
  def _aborted_on_failure(self):
    """A failed write drops the new dataset (its staging directory and the lock): nothing is
    left behind. A file-system error without a path (a write to a full disk) is given the
    staging directory's, so that the message says where."""
    try:
      yield
    except BaseException as error:
      self.abort()
      if isinstance(error, OSError) and not error.filename and error.errno:
        raise OSError(error.errno, os.strerror(error.errno), self._staging) from error
      raise

  def close(self, extra: Optional[dict] = None) -> dict:
    """Finishes every shard and writes `manifest.json`; returns the manifest."""
    with self._aborted_on_failure():
      return self._close(extra)

  def _close(self, extra: Optional[dict]) -> dict:
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
    if not manifest['num_records']:
      raise errors.InputError(f'No records were written to {self.directory} (every input was '
                              'skipped or none matched): nothing replaced.')
    write_json_atomic(os.path.join(self._staging, MANIFEST_NAME), manifest)
    self._swap()
    return manifest

  def _swap(self):
    """Moves the complete new dataset into place (keeping other files of the directory)."""
    parent, name = os.path.split(os.path.abspath(self.directory))
    if os.path.isdir(self.directory):
      for entry in os.listdir(self.directory):
        if not _is_dataset_file(entry):
          os.replace(os.path.join(self.directory, entry), os.path.join(self._staging, entry))
      old = os.path.join(parent, f'.{name}.old-{os.getpid()}')
      os.rename(self.directory, old)
      os.rename(self._staging, self.directory)
      shutil.rmtree(old)
    else:
      os.rename(self._staging, self.directory)
    self._lock.release()


def _recover(parent: str, name: str, directory: str) -> None:
  """Cleans up after a writer that was killed: its unfinished `.new-*` directories go; an
  `.old-*` directory left between the two renames of a swap is put back."""
  for entry in os.listdir(parent):
    path = os.path.join(parent, entry)
    if entry.startswith(f'.{name}.new-'):
      shutil.rmtree(path, ignore_errors=True)
    elif entry.startswith(f'.{name}.old-'):
      if os.path.isdir(directory):
        shutil.rmtree(path, ignore_errors=True)
      else:
        os.rename(path, directory)


def read_manifest(directory: str) -> dict:
  path = os.path.join(directory, MANIFEST_NAME)
  if not os.path.exists(path):
    raise FileNotFoundError(f'No {MANIFEST_NAME} in {directory}: convert or generate the '
                            'dataset first.')
  with open(path) as f:
    return json.load(f)


def verify_shards(directory: str, files, check_hashes: bool = True) -> None:
  """Checks files read from a dataset directory against its manifest: each must be listed,
  and (with `check_hashes`) have the listed SHA-256. Raises ValueError naming the file."""
  manifest = read_manifest(directory)
  listed = manifest.get('shards', {})
  for path in files:
    name = os.path.basename(path)
    if name not in listed:
      raise errors.InputError(f'{path} is not listed in {os.path.join(directory, MANIFEST_NAME)}: '
                              'left from another conversion? Convert again with --overwrite.')
    if check_hashes and file_sha256(path) != listed[name]:
      raise errors.InputError(f'{path} does not match the SHA-256 in its manifest: it was '
                              'truncated or modified after conversion. Convert or generate it '
                              'again.')


def check_count(directory: str, manifest: dict, split: str, view: Optional[str],
                count: int, what: str = 'records') -> None:
  """Raises ValueError when `count` records were read where the manifest lists another."""
  entry = manifest.get('splits', {}).get(split, {})
  expected = entry.get('views', {}).get(view) if view is not None else entry.get('num_records')
  if expected is not None and expected != count:
    raise errors.InputError(f'{directory}: read {count} {what} of {split}/{view or "all views"}, '
                            f'but the manifest lists {expected}: shards are missing or truncated. '
                            'Convert or generate it again.')
