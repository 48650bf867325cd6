"""Distribution strategies (README.md): MirroredStrategy, or MultiWorkerMirroredStrategy from
TF_CONFIG, with a bounded wait for peers (the process exits naming the missing workers).

`create_strategy` must run before any other TensorFlow op in the process when several workers
are configured (MultiWorkerMirroredStrategy's rule).
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import tensorflow as tf

from poem_cvmim.core import errors


def cluster_from_env() -> dict:
  """The TF_CONFIG cluster and task, or {} when it is not set."""
  text = os.environ.get('TF_CONFIG', '')
  if not text:
    return {}
  try:
    config = json.loads(text)
  except json.JSONDecodeError as error:
    raise errors.InputError(f'TF_CONFIG is not valid JSON: {error}') from error
  return config


def num_workers(tf_config: dict) -> int:
  cluster = tf_config.get('cluster', {})
  return len(cluster.get('worker', [])) + len(cluster.get('chief', []))


def _reachable(address: str, timeout: float = 1.0) -> bool:
  host, port = address.rsplit(':', 1)
  try:
    with socket.create_connection((host, int(port)), timeout=timeout):
      return True
  except OSError:
    return False


def missing_peers(tf_config: dict, timeout_s: float, poll_s: float = 0.5) -> list:
  """Polls the other workers' servers until all accept connections or `timeout_s` passes;
  returns the addresses still unreachable (empty when every peer is up)."""
  task = tf_config.get('task', {})
  me = tf_config['cluster'][task['type']][task['index']]
  missing = [a for job in tf_config['cluster'].values() for a in job if a != me]
  deadline = time.monotonic() + timeout_s
  while missing:
    missing = [a for a in missing if not _reachable(a)]
    if not missing or time.monotonic() > deadline:
      break
    time.sleep(poll_s)
  return missing


_WATCHDOG = """
import json, os, signal, sys
sys.path.insert(0, {root!r})
from poem_cvmim.core import distribute
missing = distribute.missing_peers(json.loads({config!r}), {timeout!r})
if missing:
  sys.stderr.write({head!r} + ', '.join(missing) + {tail!r})
  sys.stderr.flush()
  os.kill({pid}, signal.SIGKILL)
"""


def _peer_watchdog(tf_config: dict, timeout_s: float) -> subprocess.Popen:
  """A separate process that kills this one, naming the workers that never came up.

  MultiWorkerMirroredStrategy blocks in C++ while a peer is missing, holding the interpreter
  and ignoring SIGTERM, so neither an exception nor a thread could end the wait: a watchdog
  process prints the missing addresses and sends SIGKILL.
  """
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  code = _WATCHDOG.format(
      root=root, config=json.dumps(tf_config), timeout=float(timeout_s), pid=os.getpid(),
      head=f'error: Workers never came up within {timeout_s:.0f} s: ',
      tail=f' (TF_CONFIG task {tf_config.get("task")}); stopping worker {os.getpid()}.\n')
  return subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.DEVNULL)


def create_strategy(name: str = 'mirrored', peer_timeout_s: float = 300.0):
  """'mirrored' (all local devices), 'default' (no distribution) or 'multi_worker'.

  'mirrored' turns into MultiWorkerMirroredStrategy when TF_CONFIG names several workers.
  """
  tf_config = cluster_from_env()
  if name == 'multi_worker' or (name == 'mirrored' and num_workers(tf_config) > 1):
    if num_workers(tf_config) < 1:
      raise errors.InputError('strategy multi_worker needs TF_CONFIG naming the workers.')
    watchdog = _peer_watchdog(tf_config, peer_timeout_s)
    # A collective that waits longer than the timeout for a peer fails instead of hanging.
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=peer_timeout_s))
    watchdog.wait()  # training starts only once every peer answered
    return strategy
  if name == 'mirrored':
    return tf.distribute.MirroredStrategy()
  if name == 'default':
    return tf.distribute.get_strategy()
  raise errors.InputError(f'Unknown strategy {name!r}; valid: mirrored, multi_worker, default.')


def worker_directory(directory: str, strategy) -> str:
  """`directory` where the strategy says this worker checkpoints (the chief, or a single
  worker); a throw-away directory on the other workers, which must still call save."""
  if strategy.extended.should_checkpoint:
    return directory
  return tempfile.mkdtemp(prefix='poem_cvmim_worker_')


# What a collective raises when a peer is gone (connection reset, timeout, aborted group).
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
               tf.errors.AbortedError, tf.errors.CancelledError)
_REMOTE_TASK = re.compile(r'/job:(\w+)/replica:\d+/task:(\d+)')


def describe_lost_peer(error: Exception, tf_config: dict, step: int, timeout_s: float) -> str:
  """One line naming the worker(s) a multi-worker run lost, from the error or by polling."""
  cluster = tf_config.get('cluster', {})
  lost = []
  for job, index in _REMOTE_TASK.findall(str(error)):
    addresses = cluster.get(job, [])
    if int(index) < len(addresses) and addresses[int(index)] not in lost:
      lost.append(addresses[int(index)])
  if not lost:
    lost = missing_peers(tf_config, timeout_s=min(timeout_s, 5.0))
  reason = next((line.strip() for line in str(error).splitlines()
                 if 'grpc_message' in line or 'Deadline' in line or 'Connection' in line),
                type(error).__name__)
  who = ', '.join(lost) or 'a peer (none named in the error; every peer still answers)'
  return (f'Lost worker {who} at step {step} ({reason[:160]}). The last checkpoint is '
          'intact: start every worker again to resume, or resume on one machine without TF_CONFIG.')
