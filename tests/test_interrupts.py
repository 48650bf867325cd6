"""SIGINT and SIGTERM during training save a checkpoint at that step and end with one line;
the run resumed from it ends with the uninterrupted run's weights. A full disk while saving
leaves no partial checkpoint and is one line naming the path."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from poem_cvmim.core import checkpointing
from poem_cvmim.core import training_loop
from tests import test_fault_injection

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUM_STEPS = 160
# A user's environment: TensorFlow's log level not set (the commands' quiet default applies).
_ENV = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
# No checkpoint but the last one: what an interrupted run has is what the signal saved.
_INTERVALS = ['--checkpoint_interval=1000', '--summary_interval=1000']


# The input orders: records shuffled one by one, and clip-grouped batches with temporal negatives.
_INPUTS = {'records': (), 'clips': ('--temporal_negatives', '--instants_per_clip=4',
                                    '--negative_gap=16')}


def _train(smoke_dir, directory, inputs='records'):
  return [sys.executable, '-m', 'poem_cvmim.train', '--smoke',
          f'--input_table={os.path.join(smoke_dir, "pairs", "train-*")}',
          f'--log_dir_path={directory}', f'--num_iterations={_NUM_STEPS}', *_INTERVALS,
          '--deterministic', '--seed=5', *_INPUTS[inputs]]


@pytest.fixture(scope='module')
def uninterrupted(smoke_dir, tmp_path_factory):
  """The uninterrupted run's state, per input order (trained once each)."""
  states = {}
  def state(inputs):
    if inputs not in states:
      directory = str(tmp_path_factory.mktemp('whole'))
      result = subprocess.run(_train(smoke_dir, directory, inputs), cwd=_ROOT,
                              capture_output=True, text=True, timeout=600,
                              env=dict(_ENV, PYTHONHASHSEED='0'))
      assert result.returncode == 0, result.stderr[-3000:]
      states[inputs] = test_fault_injection._state(directory)
    return states[inputs]
  return state


# The interrupted and resumed processes get another Python hash seed than the uninterrupted one:
# TensorFlow's order of summing gradients once followed it (base.jsd_with_own_side).
@pytest.mark.parametrize('signal_number, inputs', [(signal.SIGTERM, 'records'),
                                                   (signal.SIGINT, 'records'),
                                                   (signal.SIGTERM, 'clips')])
def test_a_signal_saves_the_current_step_and_the_resumed_run_is_exact(
    smoke_dir, uninterrupted, tmp_path, signal_number, inputs):
  directory = str(tmp_path / 'run')
  process = subprocess.Popen(_train(smoke_dir, directory, inputs), cwd=_ROOT,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=dict(_ENV, PYTHONHASHSEED='1'))
  first = ''
  while not first.startswith('step '):  # the first progress line: training is under way
    first = process.stdout.readline()
    assert first or process.poll() is None, process.stderr.read()[-2000:]
  time.sleep(random.Random(int(signal_number)).uniform(0.0, 1.0))
  process.send_signal(signal_number)
  out, err = process.communicate(timeout=300)
  assert '\r' not in first + out and '\x1b' not in first + out  # plain lines in a pipe
  assert process.returncode == 128 + signal_number, (process.returncode, err[-2000:])
  lines = err.strip().splitlines()
  name = signal.Signals(signal_number).name
  assert len(lines) == 1 and lines[0].startswith(f'stopped by {name}: checkpoint saved at step '
                                                 ), err[-2000:]
  stopped_at = int(lines[0].split('at step ')[1].split()[0])
  assert 0 < stopped_at < _NUM_STEPS
  assert os.path.exists(os.path.join(directory, f'ckpt-{stopped_at}.index'))
  print(f'{name}: stopped at step {stopped_at} of {_NUM_STEPS}')

  resumed = subprocess.run(_train(smoke_dir, directory, inputs), cwd=_ROOT, capture_output=True,
                           text=True, timeout=600, env=dict(_ENV, PYTHONHASHSEED='1'))
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  step, values = test_fault_injection._state(directory)
  whole_step, whole = uninterrupted(inputs)
  assert step == whole_step == _NUM_STEPS
  different = [k for k in whole if not np.array_equal(values[k], whole[k])]
  assert values.keys() == whole.keys() and not different, different[:5]


class _FullDisk:
  """A checkpoint manager whose save starts writing, then meets a full disk."""

  def __init__(self, directory):
    self.directory, self._checkpoint_prefix = directory, 'ckpt'

  def save(self, checkpoint_number):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    temp = os.path.join(self.directory, f'ckpt-{checkpoint_number}_temp')
    os.makedirs(temp)
    with open(os.path.join(temp, 'part-00000-of-00001.data-00000-of-00001'), 'wb') as f:
      f.write(b'\0' * 1000)
    raise tf.errors.ResourceExhaustedError(
        None, None, f'{temp}/part-00000-of-00001.data-00000-of-00001.tempstate1; No space left '
        'on device [Op:SaveV2]')


def test_a_failed_checkpoint_write_removes_its_partial_files_and_names_the_path(tmp_path):
  with pytest.raises(checkpointing.CheckpointWriteError) as failed:
    checkpointing.save(_FullDisk(str(tmp_path)), 7)
  assert str(failed.value).startswith(f'could not write checkpoint {tmp_path}/ckpt-7: No space '
                                      'left on device (removed the partial files;')
  assert os.listdir(tmp_path) == []


def test_a_full_disk_during_training_leaves_the_last_checkpoint_only(tmp_path):
  """On a real file system that is full: a tmpfs of 1 MB (needs root and mount; skipped
  elsewhere). The variable (2 MB) cannot be saved; nothing of the attempt remains."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  small = tmp_path / 'small'
  small.mkdir()
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(small)],
                           capture_output=True)
  if mounted.returncode != 0:
    pytest.skip('no tmpfs can be mounted here (needs root)')
  try:
    variable = tf.Variable(tf.zeros([500_000]))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(small), 2)
    step = tf.Variable(0)
    controller = training_loop.Controller(
        run=lambda n: (step.assign_add(int(n)), {'loss': tf.constant(1.0)})[1],
        step=lambda: int(step.numpy()), cadence=training_loop.Cadence(4, checkpoint_interval=2),
        checkpoint_manager=manager, verbose=False)
    with pytest.raises(checkpointing.CheckpointWriteError, match=f'{small}/ckpt-2: No space'):
      controller.train()
    assert [n for n in os.listdir(small) if 'temp' in n] == []
  finally:
    subprocess.run(['umount', str(small)], check=True)
