"""Random draws inside a training step that a resumed run repeats exactly.

Stateful TensorFlow random ops keep their position inside the kernel, so a process that
restarts from a checkpoint draws a different stream. Instead, every draw in a step is stateless
and keyed by (run seed, step, replica, purpose): the run seed is a variable saved in the
checkpoint, the step is the optimizer's iteration count, so the key, and the draw, is a
function of what the checkpoint holds.

`seed` arguments in this package accept three forms:
  - None: a stateful draw (not reproducible),
  - an int: an op-level seed (reproducible within one process; used by tests and tools),
  - a key: an int64 tensor of shape [2] from `step_key` (reproducible across restarts).
"""

import os

from poem_cvmim.core import lazy_tensorflow

tf = lazy_tensorflow.deferred


def new_run_seed() -> int:
  """A fresh 62-bit seed for a run that was given none (it is then saved with the run)."""
  return int.from_bytes(os.urandom(8), 'little') >> 2


def step_key(run_seed, step, per_replica=True):
  """The key of one step: [2] int64 from the run seed, the step and (`per_replica`) the
  replica; without the replica, every replica holds the same key (see `global_normal`)."""
  key = tf.stack([tf.cast(run_seed, tf.int64), tf.cast(step, tf.int64)])
  if not per_replica:
    return key
  return tf.random.experimental.stateless_fold_in(key, tf.cast(replica_id(), tf.int64))


def replica_id():
  context = tf.distribute.get_replica_context()
  return 0 if context is None else context.replica_id_in_sync_group


def global_normal(local_shape, key, dtype='float32'):
  """This replica's slice of N(0, 1) draws made for the whole global batch from `key` (a key
  without the replica): example i of the global batch gets the same numbers whatever the
  number of replicas. local_shape: [b, ...], equal on every replica."""
  context = tf.distribute.get_replica_context()
  replicas = 1 if context is None else context.num_replicas_in_sync
  local_shape = tf.convert_to_tensor(local_shape)
  full = tf.concat([local_shape[:1] * replicas, local_shape[1:]], axis=0)
  start = tf.cast(replica_id(), local_shape.dtype) * local_shape[0]
  return tf.random.stateless_normal(full, key, dtype=dtype)[start:start + local_shape[0]]


def is_key(seed) -> bool:
  return seed is not None and not isinstance(seed, int)


def derive(seed, purpose: int):
  """The seed for one purpose: a key folded with `purpose`, an int offset by it, or None."""
  if seed is None:
    return None
  if isinstance(seed, int):
    return seed + purpose
  return tf.random.experimental.stateless_fold_in(seed, purpose)


def uniform(shape, minval=0.0, maxval=1.0, dtype='float32', seed=None):
  """U[minval, maxval) draws for any `seed` form (module docstring)."""
  if is_key(seed):
    return tf.random.stateless_uniform(shape, seed, minval, maxval, dtype=dtype)
  return tf.random.uniform(shape, minval, maxval, dtype=dtype, seed=seed)


def normal(shape, dtype='float32', seed=None):
  if is_key(seed):
    return tf.random.stateless_normal(shape, seed, dtype=dtype)
  return tf.random.normal(shape, dtype=dtype, seed=seed)


def permutation(size, seed=None):
  """A random permutation of range(size)."""
  if is_key(seed):
    return tf.argsort(tf.random.stateless_uniform([size], seed))
  return tf.random.shuffle(tf.range(size), seed=seed)
