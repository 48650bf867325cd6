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

import tensorflow as tf


def new_run_seed() -> int:
  """A fresh 62-bit seed for a run that was given none (it is then saved with the run)."""
  return int.from_bytes(os.urandom(8), 'little') >> 2


def step_key(run_seed, step):
  """The key of one step on this replica: [2] int64 from the run seed, step and replica."""
  key = tf.stack([tf.cast(run_seed, tf.int64), tf.cast(step, tf.int64)])
  context = tf.distribute.get_replica_context()
  replica = 0 if context is None else context.replica_id_in_sync_group
  return tf.random.experimental.stateless_fold_in(key, tf.cast(replica, tf.int64))


def is_key(seed) -> bool:
  return seed is not None and not isinstance(seed, int)


def derive(seed, purpose: int):
  """The seed for one purpose: a key folded with `purpose`, an int offset by it, or None."""
  if seed is None:
    return None
  if isinstance(seed, int):
    return seed + purpose
  return tf.random.experimental.stateless_fold_in(seed, purpose)


def uniform(shape, minval=0.0, maxval=1.0, dtype=tf.float32, seed=None):
  """U[minval, maxval) draws for any `seed` form (module docstring)."""
  if is_key(seed):
    return tf.random.stateless_uniform(shape, seed, minval, maxval, dtype=dtype)
  return tf.random.uniform(shape, minval, maxval, dtype=dtype, seed=seed)


def normal(shape, dtype=tf.float32, seed=None):
  if is_key(seed):
    return tf.random.stateless_normal(shape, seed, dtype=dtype)
  return tf.random.normal(shape, dtype=dtype, seed=seed)


def permutation(size, seed=None):
  """A random permutation of range(size)."""
  if is_key(seed):
    return tf.argsort(tf.random.stateless_uniform([size], seed))
  return tf.random.shuffle(tf.range(size), seed=seed)
