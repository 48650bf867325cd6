"""Run and output directories: who owns one (a lock), what it holds (an identity), and
replacing it safely.

- **Lock** (`DirectoryLock`): an OS lock on a `.lock` file that names the process, host and
  command holding the directory. A second process is refused with that process named; the lock
  of a process that is gone (killed) is free.
- **Identity** (`identity.json`): the configuration that defines a run's result and the
  identity of what it consumed (a dataset's path and the SHA-256 of its manifest). A run found
  with the same identity is reused or resumed; with another it is refused with the differing
  fields named, unless the caller replaces it (`--overwrite`).
"""

import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from typing import Iterable, Optional

from poem_cvmim.core import errors

IDENTITY_NAME = 'identity.json'
LOCK_NAME = '.lock'
MANIFEST_NAME = 'manifest.json'


class RunConflictError(errors.UserError, ValueError):
  """A directory holds a run (or data) made with another configuration."""


class DirectoryLockedError(errors.StateError):
  """Another live process holds the directory."""


class DirectoryLock:
  """Holds `directory` for this process (a context manager; also `acquire` / `release`).

  The lock is an OS lock (`fcntl.flock`) on the lock file: taking it is atomic, and it ends
  with the process that holds it however that process ends (kill -9 included), so there is
  no stale lock to judge. The file also names the holder (process, host, command), written
  once the lock is held, for the message a second process gets. Releasing removes the file
  while still holding the lock; a process that took the lock on a file removed meanwhile sees
  that the path now names another file (or none) and tries again.
  """

  def __init__(self, directory: str, beside: bool = False):
    """`beside`: the lock is the hidden file `.<name>.lock` next to the directory (for a
    directory that is replaced as a whole), not a file inside it."""
    self.directory = directory
    parent, name = os.path.split(os.path.abspath(directory))
    self.path = (os.path.join(parent, f'.{name}.lock') if beside
                 else os.path.join(directory, LOCK_NAME))
    self._descriptor = None

  def acquire(self) -> 'DirectoryLock':
    if self._descriptor is not None:
      raise DirectoryLockedError(f'{self.directory} is already held by this process.')
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    for _ in range(_LOCK_ATTEMPTS):
      descriptor = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
      try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        os.close(descriptor)
        raise DirectoryLockedError(self._busy_message()) from None
      if _same_file(descriptor, self.path):
        self._descriptor = descriptor
        _write_owner(descriptor)
        return self
      os.close(descriptor)  # released and removed by its holder meanwhile: take the new one
    raise DirectoryLockedError(f'Could not take the lock {self.path}: it was replaced '
                               f'{_LOCK_ATTEMPTS} times while this process tried.')

  def try_acquire(self) -> bool:
    """`acquire`, but False instead of an error when another process holds the directory (a
    process that waits for it, or takes other work meanwhile)."""
    try:
      self.acquire()
      return True
    except DirectoryLockedError:
      return False

  def _busy_message(self) -> str:
    holder = self._holder() or {}
    if holder.get('pid') == os.getpid() and holder.get('host') == socket.gethostname():
      return f'{self.directory} is already held by this process.'
    if not holder:  # the holder has not written its name yet
      return (f'{self.directory} is in use by another process (it is just starting); wait for '
              'it, stop it, or use another directory.')
    return (f'{self.directory} is in use by process {holder.get("pid")} on '
            f'{holder.get("host")} since {holder.get("since")} ({holder.get("command")}); '
            'wait for it, stop it, or use another directory.')

  def _holder(self) -> Optional[dict]:
    try:
      with open(self.path) as f:
        return json.load(f)
    except (OSError, ValueError):
      return None

  def release(self) -> None:
    if self._descriptor is None:
      return
    try:
      if _same_file(self._descriptor, self.path):
        os.remove(self.path)  # while holding it: a waiting process then retries
    except FileNotFoundError:
      pass
    finally:
      os.close(self._descriptor)  # releases the OS lock
      self._descriptor = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc_info):
    self.release()


_LOCK_ATTEMPTS = 100


def _same_file(descriptor: int, path: str) -> bool:
  """Whether `path` still names the open file `descriptor`."""
  try:
    named = os.stat(path)
  except FileNotFoundError:
    return False
  held = os.fstat(descriptor)
  return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _write_owner(descriptor: int) -> None:
  owner = {'pid': os.getpid(), 'host': socket.gethostname(),
           'command': ' '.join([os.path.basename(sys.executable)] + sys.argv)[:300],
           'since': time.strftime('%Y-%m-%d %H:%M:%S')}
  os.ftruncate(descriptor, 0)
  os.write(descriptor, json.dumps(owner).encode())


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def write_json_atomic(path: str, data, sort_keys: bool = False) -> None:
  """Writes JSON to a temporary file and renames it: readers never see half a file."""
  temp = path + '.tmp'
  with open(temp, 'w') as f:
    json.dump(data, f, indent=2, sort_keys=sort_keys)
    f.write('\n')
  os.replace(temp, path)


def manifest_sha256(directory: str) -> Optional[str]:
  """SHA-256 of a dataset's manifest (which lists every shard's hash), or None without one."""
  path = os.path.join(directory, MANIFEST_NAME)
  return file_sha256(path) if os.path.exists(path) else None


def dataset_identity(directory: str) -> dict:
  """What identifies a dataset a run consumed: its absolute path and its manifest's hash."""
  return {'path': os.path.abspath(directory), 'manifest_sha256': manifest_sha256(directory)}


def differences(old, new, prefix: str = '') -> list:
  """'field: old -> new' for every leaf that differs between two JSON-like values."""
  if isinstance(old, dict) and isinstance(new, dict):
    found = []
    for key in sorted(set(old) | set(new), key=str):
      name = f'{prefix}.{key}' if prefix else str(key)
      if key not in old:
        found.append(f'{name}: (absent) -> {new[key]!r}')
      elif key not in new:
        found.append(f'{name}: {old[key]!r} -> (absent)')
      else:
        found += differences(old[key], new[key], name)
    return found
  if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
    return [d for i, (a, b) in enumerate(zip(old, new))
            for d in differences(a, b, f'{prefix}[{i}]')]
  return [] if old == new else [f'{prefix or "value"}: {old!r} -> {new!r}']


def read_identity(directory: str) -> Optional[dict]:
  path = os.path.join(directory, IDENTITY_NAME)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_identity(directory: str, identity: dict) -> None:
  os.makedirs(directory, exist_ok=True)
  write_json_atomic(os.path.join(directory, IDENTITY_NAME), identity, sort_keys=True)


def _contents(directory: str) -> list:
  if not os.path.isdir(directory):
    return []
  return sorted(n for n in os.listdir(directory) if n != LOCK_NAME)


def clear(directory: str) -> None:
  """Removes everything in `directory` but its lock."""
  for name in _contents(directory):
    path = os.path.join(directory, name)
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)
    else:
      os.remove(path)


_REMEDY = 'Pass --overwrite to replace it, or use another directory.'


def check_identity(directory: str, identity: dict, overwrite: bool = False,
                   schedule: Iterable[str] = (), what: str = 'run',
                   remedy: str = _REMEDY) -> bool:
  """Compares the identity recorded in `directory` with `identity` and records it.

  Returns True when the directory holds the same run (to reuse or resume), False when it was
  empty or replaced. Fields named in `schedule` (dotted paths) may differ: they are updated.
  Raises RunConflictError naming the differing fields (or the unknown contents) unless
  `overwrite`, which empties the directory first.
  """
  identity = json.loads(json.dumps(identity))  # tuples as lists, as read back
  recorded = read_identity(directory)
  if recorded is None:
    leftovers = _contents(directory)
    if leftovers and not overwrite:
      raise RunConflictError(
          f'{directory} holds files of an unknown {what} ({", ".join(leftovers[:3])}...) and '
          f'no {IDENTITY_NAME}. {remedy}')
    clear(directory)
    write_identity(directory, identity)
    return False
  found = [d for d in differences(recorded, identity)
           if d.split(':', 1)[0] not in set(schedule)]
  if found:
    if not overwrite:
      raise RunConflictError(
          f'{directory} holds a {what} made with other settings: {"; ".join(found)}. {remedy}')
    clear(directory)
    write_identity(directory, identity)
    return False
  if recorded != identity:
    write_identity(directory, identity)
  return True
