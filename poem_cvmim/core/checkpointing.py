"""What checkpoints need beyond `tf.train.Checkpoint`'s object graph, and restoring the
latest checkpoint that can be read."""

import glob
import os
import shutil
from typing import Callable, Optional

import keras
import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import records


def seed_states(model: keras.layers.Layer) -> list:
  """The state variables of the random-seed generators (dropout) of every layer of `model`.

  Keras keeps them outside TensorFlow's object graph, so checkpoints list them explicitly:
  a resumed run then draws the dropout masks the uninterrupted run would have drawn.
  """
  return [layer.seed_generator.state for layer in model._flatten_layers()  # pylint: disable=protected-access
          if isinstance(getattr(layer, 'seed_generator', None), keras.random.SeedGenerator)]


def checkpoint_paths(directory: str) -> list:
  """The checkpoints a directory's `checkpoint` file lists, oldest first."""
  state = tf.train.get_checkpoint_state(directory)
  if state is None:
    return []
  paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
  return [p for p in paths if p]


def restore_latest_intact(checkpoint: tf.train.Checkpoint, directory: str,
                          warn: Callable[[str], None] = print,
                          partial: bool = False) -> Optional[str]:
  """Restores the newest readable checkpoint of `directory`; returns its path (None: none).

  A truncated or corrupt newest checkpoint (a run killed while saving, a full disk) is
  skipped with a warning and the previous one is used. Raises ValueError when checkpoints
  exist but none can be read.
  """
  paths = checkpoint_paths(directory)
  for path in reversed(paths):
    try:
      status = checkpoint.read(path)
      if partial:
        status.expect_partial()
      return path
    except (tf.errors.OpError, ValueError, IndexError, KeyError) as error:
      warn(f'warning: checkpoint {path} cannot be read ({type(error).__name__}: '
           f'{records.first_line(error)}); trying the previous one.')
  if paths:
    raise errors.InputError(f'No checkpoint in {directory} can be read ({len(paths)} tried); '
                            'remove the directory to start over.')
  return None


def save(manager: tf.train.CheckpointManager, step: int) -> str:
  """`manager.save(checkpoint_number=step)`; a failed write (a full disk, a lost mount)
  removes the half-written `<prefix>-<step>_temp` directory it leaves and raises one line
  naming the path. The previous checkpoint is untouched, so a re-run resumes from it."""
  try:
    return manager.save(checkpoint_number=step)
  except (tf.errors.OpError, OSError) as error:
    prefix = os.path.join(manager.directory, manager._checkpoint_prefix)  # pylint: disable=protected-access
    for leftover in glob.glob(f'{glob.escape(prefix)}-{step}_temp*'):
      shutil.rmtree(leftover, ignore_errors=True)
    # TensorFlow's message: '{{function_node ...}} <temp file>; No space left on device [Op:..]'
    reason = records.first_line(error, limit=None).rsplit('; ', 1)[-1].split(' [Op:')[0]
    raise CheckpointWriteError(
        f'could not write checkpoint {prefix}-{step}: {reason} (removed the partial files; '
        'free space or choose another directory, then run again: it resumes from the last '
        'checkpoint).') from None


class CheckpointWriteError(errors.StateError):
  """A checkpoint could not be written (its partial files were removed)."""
