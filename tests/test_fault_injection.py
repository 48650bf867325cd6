"""Kill -9 and resume: a training run, and a converter with and without --overwrite."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from poem_cvmim.representation import restore

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUM_STEPS, _INTERVAL = 160, 10


def _train_command(smoke_dir, directory):
  return [sys.executable, '-m', 'poem_cvmim.train', '--smoke',
          f'--input_table={os.path.join(smoke_dir, "pairs", "train-*")}',
          f'--log_dir_path={directory}', f'--num_iterations={_NUM_STEPS}',
          f'--checkpoint_interval={_INTERVAL}', f'--summary_interval={_INTERVAL}',
          '--deterministic', '--seed=3']


def _state(directory):
  """Every variable a checkpoint restores: networks, optimizers, seeds, by owner and position
  (Keras numbers the paths of a second copy of a network differently)."""
  algorithm, _, step = restore.load_algorithm(directory)
  values = {f'{name}/{i}': v.numpy() for name, network in algorithm.networks().items()
            for i, v in enumerate(network.variables)}
  for name, optimizer in algorithm.optimizers.items():
    values.update({f'{name}_optimizer/{i}': v.numpy()
                   for i, v in enumerate(optimizer.variables)})
  if hasattr(algorithm, 'run_seed'):
    values['run_seed'] = algorithm.run_seed.numpy()
  return step, values


def _latest_step(directory):
  steps = [int(f[len('ckpt-'):-len('.index')]) for f in os.listdir(directory)
           if f.startswith('ckpt-') and f.endswith('.index')]
  return max(steps, default=0)


def test_training_killed_and_resumed_ends_with_the_uninterrupted_weights(smoke_dir, tmp_path):
  killed, whole = str(tmp_path / 'killed'), str(tmp_path / 'whole')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  process = subprocess.Popen(_train_command(smoke_dir, killed), cwd=_ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 240
  while not (os.path.isdir(killed) and _latest_step(killed) >= _INTERVAL):
    assert process.poll() is None and time.monotonic() < deadline, 'no first checkpoint'
    time.sleep(0.05)
  time.sleep(random.Random(7).uniform(0.1, 1.0))  # a step after the first checkpoint
  process.send_signal(signal.SIGKILL)
  assert process.wait() == -signal.SIGKILL, 'the run finished before it could be killed'
  killed_at = _latest_step(killed)
  assert _INTERVAL <= killed_at < _NUM_STEPS
  print(f'killed after checkpoint {killed_at} of {_NUM_STEPS}')

  for directory in (killed, whole):
    result = subprocess.run(_train_command(smoke_dir, directory), cwd=_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
  step_killed, resumed = _state(killed)
  step_whole, uninterrupted = _state(whole)
  assert step_killed == step_whole == _NUM_STEPS
  assert resumed.keys() == uninterrupted.keys()
  different = [name for name in resumed
               if not np.array_equal(resumed[name], uninterrupted[name])]
  assert not different, f'{len(different)} of {len(resumed)} differ, e.g. {different[:5]}'
