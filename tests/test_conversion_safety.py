"""A conversion never damages the dataset it replaces: a failing or killed (SIGKILL) converter
leaves the previous dataset or none; bytes that are not text are a malformed file, named."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from data_prep import conversion
from data_prep import ntu_rgbd_dataset as ntu
from data_prep import ntu_skeleton
from poem_cvmim.core import shards
from tests.testdata import make_fixtures as fx

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SKELETONS = os.path.join(fx.HERE, fx.NTU, 'skeletons')
_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')


def _command(module, *flags):
  return subprocess.run([sys.executable, '-m', module, *flags], cwd=_ROOT, capture_output=True,
                        text=True, timeout=300, env=_ENV)


# -- 3. safe overwrite: a failing or killed conversion never damages the previous dataset --

def _ntu(tmp_path, input_dir, **overrides):
  values = dict(input_dir=input_dir, output_dir=str(tmp_path / 'ntu'), mode='sequences')
  values.update(overrides)
  return ntu.convert(ntu.NtuConfig(**values), log=lambda _: None)


def _snapshot(directory):
  return {n: shards.file_sha256(os.path.join(directory, n)) for n in sorted(os.listdir(directory))}


def test_failing_overwrite_keeps_the_previous_dataset(tmp_path):
  good = tmp_path / 'good'
  good.mkdir()
  for name in sorted(os.listdir(_SKELETONS)):
    if name != fx.NTU_TRUNCATED + ntu_skeleton.FILE_SUFFIX:
      shutil.copy(os.path.join(_SKELETONS, name), good / name)
  _ntu(tmp_path, str(good))
  before = _snapshot(tmp_path / 'ntu' / 'sequences')
  with pytest.raises(conversion.MalformedInput):
    _ntu(tmp_path, _SKELETONS, strict=True, overwrite=True)
  assert _snapshot(tmp_path / 'ntu' / 'sequences') == before
  assert not [n for n in os.listdir(tmp_path / 'ntu') if '.new-' in n]


def _many_skeletons(directory, count):
  """`count` copies of one valid 300-frame .skeleton file under distinct sample names."""
  directory.mkdir()
  joints = np.random.default_rng(0).normal(size=(300, ntu_skeleton.NUM_JOINTS, 12))
  joints[..., 2] += 3.0
  text = ntu_skeleton.format_skeleton([[('72057594037931101', joints[t])]
                                       for t in range(300)])
  for i in range(count):  # (camera, performer, action) differ for every i < 360
    name = f'S001C00{1 + i % 3}P{1 + i // 3 % 40:03d}R001A{1 + i // 120:03d}.skeleton'
    (directory / name).write_text(text)
  return str(directory)


def _kill_mid_conversion(input_dir, output_dir, *flags):
  """Starts the NTU converter, kills it (SIGKILL) once it has written part of its output."""
  process = subprocess.Popen(
      [sys.executable, '-m', 'data_prep.ntu_rgbd', f'--input_dir={input_dir}',
       f'--output_dir={output_dir}', '--num_workers=1', '--records_per_shard=5', *flags],
      cwd=_ROOT, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  while True:  # the staging directory `.sequences.new-<pid>` beside the output holds shards
    staging = [os.path.join(output_dir, n) for n in os.listdir(output_dir)
               if '.new-' in n] if os.path.isdir(output_dir) else []
    if any(len(os.listdir(s)) > 2 for s in staging if os.path.isdir(s)):
      break
    assert process.poll() is None, 'the converter finished before it could be killed'
    assert time.monotonic() < deadline
    time.sleep(0.02)
  process.send_signal(signal.SIGKILL)
  process.wait()


def test_converter_killed_mid_run_leaves_the_old_dataset_or_none(tmp_path):
  inputs = _many_skeletons(tmp_path / 'skeletons', 360)
  fresh = str(tmp_path / 'fresh')
  _kill_mid_conversion(inputs, fresh)
  assert not os.path.exists(os.path.join(fresh, 'sequences'))  # nothing half-written visible
  result = _command('data_prep.ntu_rgbd', f'--input_dir={inputs}', f'--output_dir={fresh}',
                    '--num_workers=1')
  assert result.returncode == 0, result.stderr[-2000:]
  complete = shards.read_manifest(os.path.join(fresh, 'sequences'))
  assert complete['num_records'] == 360
  assert sorted(n for n in os.listdir(fresh) if not n.startswith('.')) == ['sequences']
  before = _snapshot(os.path.join(fresh, 'sequences'))
  _kill_mid_conversion(inputs, fresh, '--overwrite')
  assert _snapshot(os.path.join(fresh, 'sequences')) == before
  result = _command('data_prep.ntu_rgbd', f'--input_dir={inputs}', f'--output_dir={fresh}',
                    '--num_workers=1', '--records_per_shard=7', '--overwrite')
  assert result.returncode == 0, result.stderr[-2000:]
  replaced = os.path.join(fresh, 'sequences')
  assert shards.read_manifest(replaced)['num_records'] == 360
  assert _snapshot(replaced) != before  # 7 records a shard now
  assert not [n for n in os.listdir(fresh) if '.new-' in n or '.old-' in n]


# -- 7. converters: bytes that are not text are a malformed file --------------------------

def test_a_non_utf8_skeleton_file_is_skipped_and_named(tmp_path):
  inputs = tmp_path / 'skeletons'
  shutil.copytree(_SKELETONS, inputs)
  bad = inputs / 'S001C001P001R001A009.skeleton'
  bad.write_bytes(b'1\r\n1\r\n\xff\xfe binary \x00\r\n')
  manifest = _ntu(tmp_path, str(inputs), output_dir=str(tmp_path / 'out'))['sequences']
  skipped = [s for s in manifest['skipped'] if s['source'] == str(bad)]
  assert skipped and 'not a text file: byte 0xff at offset' in skipped[0]['reason']
  with pytest.raises(conversion.MalformedInput, match='A009.skeleton:3: not a text file'):
    _ntu(tmp_path, str(inputs), output_dir=str(tmp_path / 'strict'), strict=True)
