"""The trainer: smoke run, resume with optimizer state, NaN stop, bad inputs."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.representation import configs
from poem_cvmim.representation import restore
from poem_cvmim.core import errors
from poem_cvmim.core import records
from poem_cvmim.core import training_loop
from poem_cvmim.representation import trainer as trainer_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pairs(smoke_dir):
  return os.path.join(smoke_dir, 'pairs', 'train-*')


def _optimizer_state(trainer):
  return {name: [v.numpy().copy() for v in opt.variables]
          for name, opt in trainer.algorithm.optimizers.items()}


def test_smoke_run_then_resume_with_step_and_accumulators(smoke_dir, tmp_path):
  config = configs.smoke_config(input_table=_pairs(smoke_dir), output_dir=str(tmp_path), num_steps=2)
  first = trainer_lib.Trainer(config, log=lambda _: None)
  terms = first.train()
  assert first.step == 2
  assert all(np.isfinite(v) for v in terms.values())
  assert {'encoder/representation_loss', 'encoder/view_loss', 'encoder/prior_loss',
          'encoder/disentangle_loss', 'estimator/total_loss',
          'discriminator/total_loss'} <= set(terms)
  saved = _optimizer_state(first)
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith('ckpt-2')
  with open(tmp_path / 'config.json') as f:
    assert json.load(f)['algorithm']['fusion'] == 'MOE'
  assert glob.glob(str(tmp_path / 'train' / 'events.out.tfevents.*'))

  resumed = trainer_lib.Trainer(configs.smoke_config(input_table=_pairs(smoke_dir),
                                              output_dir=str(tmp_path), num_steps=4),
                                log=lambda _: None)
  assert resumed.restore() == 2
  restored = _optimizer_state(resumed)
  for name in saved:
    assert len(saved[name]) == len(restored[name]) > 1
    for a, b in zip(saved[name], restored[name]):
      np.testing.assert_array_equal(a, b)
  resumed.train()
  assert resumed.step == 4
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith('ckpt-4')
  algorithm, config, step = restore.load_algorithm(str(tmp_path))
  assert step == 4 and config.num_steps == 4


def test_non_finite_loss_stops_with_step_and_term(tmp_path, monkeypatch):
  directory = tmp_path / 'nan'
  directory.mkdir()
  rng = np.random.default_rng(0)
  with tf.io.TFRecordWriter(str(directory / 'train-00000-of-00001.tfrecord')) as writer:
    for _ in range(32):
      points = rng.uniform(size=(2, 13, 2)).astype(np.float32)
      points[0, 3] = np.nan
      writer.write(records.serialize(records.make_example(
          [[100, 100]] * 2, points, np.ones((2, 13)), rng.normal(size=(2, 17, 3)))))
  config = configs.smoke_config(input_table=str(directory / 'train-*'),
                         output_dir=str(tmp_path / 'run'), input_type='2D_INPUT',
                         algorithm=configs.AlgorithmConfig(algorithm='ALIGN'))
  # The loss went bad because the data hold NaN: the message says both, and where the NaN is.
  with pytest.raises(errors.InputError, match=r'Non-finite loss at step 1: .*encoder/.* the '
                     r'input holds NaN or Inf \(.*train-00000-of-00001.tfrecord: record 0, '
                     r'keypoints_2d\)'):
    trainer_lib.Trainer(config, log=lambda _: None).train()
  assert tf.train.latest_checkpoint(str(tmp_path / 'run')) is None
  # With data that hold no NaN (as the scan reports) the training itself diverged.
  monkeypatch.setattr(records, 'first_non_finite_pair', lambda *args: None)
  with pytest.raises(training_loop.NonFiniteLossError, match=r'step 1: .*encoder/'):
    trainer_lib.Trainer(config, log=lambda _: None).train()


def _run_train(*flags, env=None):
  return subprocess.run([sys.executable, '-m', 'poem_cvmim.train', *flags], cwd=_ROOT,
                        capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize('flags,message', [
    (['--algorithm_type=SIMCLR'], "Unknown algorithm 'SIMCLR'; valid: DISENTANGLE, ALIGN"),
    (['--fusion_op_type=POE', '--view_embedding_dim=16'],
     'pose_embedding_dim=32 and view_embedding_dim=16'),
    (['--input_table=/nonexistent/pairs-*'], "'/nonexistent/pairs-*' matches no file"),
])
def test_bad_flags_give_one_line_errors(smoke_dir, tmp_path, flags, message):
  result = _run_train(f'--input_table={_pairs(smoke_dir)}', f'--log_dir_path={tmp_path}',
                      '--smoke', *flags)
  assert result.returncode == 2
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and message in last, result.stderr[-2000:]
