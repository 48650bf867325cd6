"""What every dataset converter shares: finding inputs, a process pool, skips, progress.

A converter splits its input into work items (a file, or a group of files), and a worker
function turns one item into a `Result`: the serialized records to write, each with its split,
view and labels, and the parts it could not convert. Workers run in a process pool and their
results are written in item order, so the shards are byte-identical whatever the pool size.

A malformed input raises `MalformedInput(source, line, reason)` inside the worker; the pool
turns it into a skip (listed in the manifest), or, with `strict`, into an error naming the file
and line. Inputs left out on purpose (a class outside the protocol, a listed bad sample) are
skips too, but never errors.
"""

import dataclasses
import glob
import multiprocessing
import os
import sys
import time
from typing import Callable, List, Optional, Sequence, Tuple

from poem_cvmim.core import errors
from poem_cvmim.core import shards

# Work items handed to a worker process at a time: large enough to amortise the pickling,
# small enough that progress moves.
DEFAULT_CHUNK_SIZE = 8
# Seconds between progress lines.
PROGRESS_INTERVAL_S = 10.0


class MalformedInput(errors.InputError):
  """An input file that does not follow its format.

  Attributes:
    source: The file.
    line: 1-based line number (text formats) or None.
    reason: What is wrong.
  """

  def __init__(self, source: str, reason: str, line: Optional[int] = None):
    self.source, self.reason, self.line = source, reason, line
    where = f'{source}:{line}' if line is not None else source
    super().__init__(f'{where}: {reason}')

  def __reduce__(self):  # survives pickling between pool processes
    return MalformedInput, (self.source, self.reason, self.line)


@dataclasses.dataclass
class Output:
  """One serialized record and where it goes."""
  serialized: bytes
  split: str
  view: Optional[str] = None
  labels: Tuple[int, ...] = ()


@dataclasses.dataclass
class Result:
  """What a worker made of one work item."""
  outputs: List[Output] = dataclasses.field(default_factory=list)
  skipped: List[dict] = dataclasses.field(default_factory=list)  # {source, reason[, line]}
  malformed: Optional[MalformedInput] = None  # the first malformed input met, if any

  def skip(self, source: str, reason: str, line: Optional[int] = None) -> 'Result':
    """Lists an input left out on purpose (never an error, even with `strict`)."""
    entry = {'source': source, 'reason': reason}
    if line is not None:
      entry['line'] = line
    self.skipped.append(entry)
    return self

  def skip_malformed(self, error: MalformedInput) -> 'Result':
    """Lists a malformed input (an error with `strict`)."""
    self.malformed = self.malformed or error
    return self.skip(error.source, error.reason, error.line)


def list_inputs(directory: str, pattern: str, what: str, recursive: bool = False) -> list:
  """Sorted files matching `pattern` under `directory`; clear errors when there are none."""
  if not directory:
    raise errors.InputError(f'No input directory given for the {what}.')
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'Input directory {directory} does not exist (expected the {what}).')
  files = sorted(glob.glob(os.path.join(directory, pattern), recursive=recursive))
  if not files:
    raise FileNotFoundError(f'Input directory {directory} holds no files matching {pattern!r} '
                            f'(expected the {what}).')
  return files


class _Guarded:
  """Wraps a worker so a malformed input becomes a skip entry (picklable for the pool)."""

  def __init__(self, function: Callable):
    self._function = function

  def __call__(self, item) -> Result:
    try:
      return self._function(item)
    except MalformedInput as error:
      return Result().skip_malformed(error)


def _results(function, items, num_workers, chunk_size):
  """Results in item order, from a pool of `num_workers` processes (1: this process)."""
  guarded = _Guarded(function)
  if num_workers <= 1:
    yield from map(guarded, items)
    return
  with multiprocessing.get_context(_start_method()).Pool(num_workers) as pool:
    yield from pool.imap(guarded, items, chunksize=chunk_size)


def _start_method() -> str:
  """'fork' while this process has not loaded TensorFlow (the converter commands never do): a
  worker then starts at once with the modules already imported. 'spawn' once it has, so no
  worker inherits TensorFlow's threads; spawned workers import only the command's and the
  converter's modules, which do not load TensorFlow either."""
  if 'tensorflow' in sys.modules or 'fork' not in multiprocessing.get_all_start_methods():
    return 'spawn'
  return 'fork'


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConversionOptions:
  """The fields every converter's config shares (keyword-only, so a config's own fields keep
  their order): worker processes, shard size, stop at the first malformed input or skip it,
  and whether the shards of an earlier run may be replaced. The flags are
  `converter_cli.define_common_flags`'s."""
  num_workers: int = 1
  strict: bool = False
  overwrite: bool = False
  records_per_shard: int = shards.DEFAULT_RECORDS_PER_SHARD


def default_workers() -> int:
  """The cores this process may use (all of them where the OS cannot say)."""
  if hasattr(os, 'sched_getaffinity'):
    return max(1, len(os.sched_getaffinity(0)))
  return os.cpu_count() or 1


def log_to_stderr(message: str) -> None:
  """Where converters report progress by default (stdout keeps the summary)."""
  print(message, file=sys.stderr, flush=True)


def run(function: Callable, items: Sequence, writer: shards.DatasetWriter, name: str,
        num_workers: int = 1, strict: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE,
        log: Callable = None, unit: str = 'files') -> dict:
  """Converts every item with `function` and writes its records; returns counters.

  Raises:
    MalformedInput: With `strict`, at the first malformed item (nothing is renamed into place:
      the writer's shards stay hidden temporary files).
  """
  log = log or log_to_stderr
  counters = {'items': 0, 'records': 0, 'skipped': 0, 'malformed': 0}
  start = last = time.time()
  for result in _results(function, items, num_workers, chunk_size):
    if result.malformed is not None and strict:
      raise result.malformed
    for output in result.outputs:
      writer.write(output.serialized, output.split, output.view, output.labels)
    for entry in result.skipped:
      writer.skip(entry['source'], entry['reason'], entry.get('line'))
    counters['items'] += 1
    counters['records'] += len(result.outputs)
    counters['skipped'] += len(result.skipped)
    counters['malformed'] += int(result.malformed is not None)
    now = time.time()
    if now - last >= PROGRESS_INTERVAL_S or counters['items'] == len(items):
      last = now
      log(_progress_line(name, counters, len(items), now - start, unit))
  counters['seconds'] = time.time() - start
  return counters


def _progress_line(name, counters, total, seconds, unit):
  rate = counters['items'] / max(seconds, 1e-9)
  return (f'[{name}] {counters["items"]}/{total} {unit} ({100 * counters["items"] / total:.0f}%'
          f', {rate:.1f} {unit}/s), {counters["records"]} records, '
          f'{counters["skipped"]} skipped ({counters["malformed"]} malformed)')


def summarize(manifest: dict) -> str:
  """A short table of a record directory (converted or generated): records per split, view."""
  lines = [f'{manifest["dataset"]}: {manifest["num_records"]} records, '
           f'{len(manifest["skipped"])} skipped']
  for split, entry in manifest['splits'].items():
    views = ', '.join(f'{v}={n}' for v, n in entry['views'].items()) or '-'
    lines.append(f'  {split:<6} {entry["num_records"]:>8}  {views}')
  return '\n'.join(lines)
