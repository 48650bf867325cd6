"""Commands start quietly and answer --help without TensorFlow; progress is plain text in a
log; a failed write leaves nothing behind; NaN in the data is blamed on the data."""

import dataclasses
import errno
import glob
import io
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import progress
from poem_cvmim.core import records
from poem_cvmim.core import shards
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import features
from poem_cvmim.representation import configs
from poem_cvmim.representation import trainer
from tests import test_reliability

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every command a user runs (the table commands share experiments/table_command.py).
COMMANDS = ('poem_cvmim.train', 'poem_cvmim.export', 'poem_cvmim.embed',
            'poem_cvmim.extract_features', 'poem_cvmim.train_action',
            'poem_cvmim.evaluate_action', 'poem_cvmim.evaluate_retrieval', 'poem_cvmim.benchmark',
            'data_prep.synthetic', 'data_prep.h36m', 'data_prep.penn_action', 'data_prep.ntu_rgbd',
            'data_prep.ntu_benchmark', 'data_prep.detections', 'experiments.figure4',
            'experiments.table1',
            'experiments.table5', 'experiments.figure3', 'experiments.quickstart',
            'poem_cvmim.train_refiner', 'poem_cvmim.refine', 'experiments.refiner_ablation',
            'experiments.refiner_action')
# A user's environment: TensorFlow's log level not set.
_USER_ENV = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}

_HELP_PROBE = '''
import contextlib, io, runpy, sys
sys.argv = [sys.argv[1], '--help']
text = io.StringIO()
try:
  with contextlib.redirect_stdout(text):
    runpy.run_module(sys.argv[0], run_name='__main__')
except SystemExit as stop:
  code = stop.code
print(code, 'tensorflow' in sys.modules, 'flags:' in text.getvalue())
'''


def test_help_of_every_command_loads_no_tensorflow():
  """What makes --help answer in a fraction of a second (0.1-0.8 s here, 5-6 s before)."""
  loaded = {}
  for module in COMMANDS:
    result = subprocess.run([sys.executable, '-c', _HELP_PROBE, module], cwd=_ROOT,
                            capture_output=True, text=True, timeout=120)
    loaded[module] = result.stdout.split()
  assert {m: v for m, v in loaded.items() if v != ['0', 'False', 'True']} == {}


def test_a_command_on_a_machine_without_a_gpu_prints_only_its_own_line(tmp_path):
  command = [sys.executable, '-m', 'poem_cvmim.export', f'--log_dir_path={tmp_path}/none',
             f'--export_dir={tmp_path}/saved']
  quiet = subprocess.run(command, cwd=_ROOT, capture_output=True, text=True, timeout=300,
                         env=_USER_ENV)
  assert quiet.returncode == 2
  assert quiet.stderr.splitlines() == [f'error: No config.json in {tmp_path}/none: not a '
                                       'training directory.'], quiet.stderr
  # The usual variable shows TensorFlow's own log again.
  shown = subprocess.run(command, cwd=_ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(_USER_ENV, TF_CPP_MIN_LOG_LEVEL='0'))
  assert len(shown.stderr.splitlines()) > 1 and shown.stderr.splitlines()[-1].startswith('error')


def test_progress_is_plain_lines_in_a_file_and_one_line_on_a_terminal():
  log = io.StringIO()
  bar = progress.Progress(100, stream=log)
  for step in (5, 50, 52, 100):  # at most one line per tenth of the way, and the last
    bar.update(step, loss=0.5, steps_per_s=10.0)
  bar.close()
  assert log.getvalue() == ('step 5/100  loss 0.5  steps_per_s 10\n'
                            'step 50/100  loss 0.5  steps_per_s 10\n'
                            'step 100/100  loss 0.5  steps_per_s 10\n')

  class Terminal(io.StringIO):
    def isatty(self):
      return True

  screen = Terminal()
  bar = progress.Progress(100, stream=screen)
  bar.update(50, loss=0.5)
  bar.update(100, loss=0.25)
  assert screen.getvalue().count('\r') == 2 and screen.getvalue().endswith('\n')
  assert screen.getvalue().count('\n') == 1 and '\x1b' not in screen.getvalue()


def test_a_failed_feature_write_leaves_no_staging_directory_or_lock(smoke_dir, tmp_path):
  raw = embedders.load_embedder(embedders.RAW)
  calls = []

  def failing(points):
    calls.append(1)
    if len(calls) == 2:
      raise errors.InputError('the encoder failed on the second batch')
    return raw.fn(points)

  broken = dataclasses.replace(raw, fn=failing)
  with pytest.raises(errors.InputError, match='second batch'):
    features.write_feature_table(os.path.join(smoke_dir, 'penn_like'), str(tmp_path / 'f'),
                                 broken, batch_size=4, log=lambda _: None)
  assert os.listdir(tmp_path) == []


def test_a_full_disk_while_writing_records_names_the_directory(tmp_path, monkeypatch):
  def full(self, serialized):
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(shards.ShardedWriter, 'write', full)
  writer = shards.DatasetWriter(str(tmp_path / 'data'), 'test')
  with pytest.raises(OSError) as failed:
    writer.write(b'record', 'train')
  assert failed.value.errno == errno.ENOSPC
  assert failed.value.filename.startswith(str(tmp_path / '.data.new-'))
  assert os.listdir(tmp_path) == []


def test_nan_in_pair_records_is_blamed_on_the_records(smoke_dir, tmp_path):
  pairs = test_reliability._copy(os.path.join(smoke_dir, 'pairs'), tmp_path / 'pairs')
  shard = sorted(glob.glob(os.path.join(pairs, 'train-*')))[0]
  names = records.keypoint_keys_2d('LEFT_HIP')

  def poison(raw):
    example = tf.train.Example.FromString(raw)
    for key in names:
      example.features.feature[key].float_list.value[:] = [float('nan')] * 2
    return example.SerializeToString()

  test_reliability._rewrite_shard(shard, keep=10_000, edit=poison)
  test_reliability._rehash(pairs)
  config = dataclasses.replace(configs.smoke_config(), input_table=os.path.join(pairs, 'train-*'),
                               output_dir=str(tmp_path / 'run'), input_type='2D_INPUT')
  with pytest.raises(errors.InputError, match=r'Non-finite loss at step 1: .* the input holds '
                     f'NaN or Inf \\({shard}: record 0, keypoints_2d\\)'):
    trainer.Trainer(config, log=lambda _: None, verbose=False).train()


_IMPORT_PROBE = '''
import importlib, pkgutil, random, sys
import numpy as np
import keras, tensorflow, scipy.signal, pandas  # their own imports draw; ours must not
random.seed(0); np.random.seed(0)
expected = (random.random(), float(np.random.random()))
random.seed(0); np.random.seed(0)
import poem_cvmim, data_prep, experiments
for package in (poem_cvmim, data_prep, experiments):
  for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):
    importlib.import_module(module.name)
print((random.random(), float(np.random.random())) == expected)
'''


def test_importing_any_module_draws_no_random_numbers():
  """An import that draws from Python's or NumPy's global generator (an unseeded Keras
  initializer made at module level) shifts every later draw of the process: the main job's
  CV-MIM initialisation then depended on which modules it had imported before training."""
  result = subprocess.run([sys.executable, '-c', _IMPORT_PROBE], cwd=_ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.stdout.strip().splitlines()[-1] == 'True', result.stdout + result.stderr[-2000:]
