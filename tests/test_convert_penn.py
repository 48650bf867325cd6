"""Penn Action converter on the .mat fixtures in tests/testdata/penn_action (data_prep/README.md)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from data_prep import conversion
from data_prep import penn_action_dataset as penn
from poem_cvmim.core import shards
from tests import record_reading as rr
from tests.testdata import make_fixtures as fx

ROOT = os.path.join(fx.HERE, fx.PENN)


def _convert(tmp_path, **overrides):
  values = dict(input_dir=ROOT, output_dir=str(tmp_path / 'out'))
  values.update(overrides)
  return penn.convert(penn.PennConfig(**values), log=lambda _: None)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('penn')
  return tmp_path / 'out', _convert(tmp_path)


def test_committed_fixtures_hold_what_the_writer_writes(tmp_path):
  fx.write_penn(str(tmp_path))
  for clip_id in fx.PENN_CLIPS:
    committed = scipy.io.loadmat(os.path.join(ROOT, 'labels', f'{clip_id}.mat'))
    fresh = scipy.io.loadmat(str(tmp_path / 'labels' / f'{clip_id}.mat'))
    assert sorted(k for k in committed if not k.startswith('__')) == sorted(
        k for k in fresh if not k.startswith('__'))
    for key in fresh:
      if not key.startswith('__'):
        np.testing.assert_array_equal(committed[key], fresh[key])


def test_fixture_fields_read_as_in_the_release():
  mat = scipy.io.loadmat(os.path.join(ROOT, 'labels', '0001.mat'))
  assert mat['action'][0] == 'baseball_pitch' and mat['pose'][0] == 'front'
  assert mat['x'].shape == (8, 13) and mat['dimensions'].tolist() == [[480, 640, 8]]
  assert 'bbox' not in scipy.io.loadmat(os.path.join(ROOT, 'labels', '0002.mat'))


def test_counts_drops_and_views(converted):
  out, manifest = converted
  assert manifest == shards.read_manifest(str(out))
  assert manifest['classes'] == list(penn.CLASSES) and len(penn.CLASSES) == 14
  assert 'strum_guitar' not in manifest['classes']
  assert manifest['views'] == ['back', 'front', 'left']  # from the data ('right' dropped)
  assert manifest['splits'] == {
      'test': {'num_records': 2, 'views': {'back': 1, 'left': 1},
               'classes': {'bench_press': 1, 'golf_swing': 1}},
      'train': {'num_records': 1, 'views': {'front': 1}, 'classes': {'baseball_pitch': 1}}}
  reasons = {os.path.basename(s['source']): s['reason'] for s in manifest['skipped']}
  assert sorted(reasons) == ['0003.mat', '0004.mat', '0006.mat']
  assert 'strum_guitar' in reasons['0003.mat']
  assert 'mostly invisible' in reasons['0004.mat']
  assert "field 'x'" in reasons['0006.mat']


def test_exact_values_after_resampling(converted):
  out, _ = converted
  [example] = rr.read_examples(out, 'train-front-')
  assert len(example['image/height']) == penn.SEQUENCE_LENGTH
  assert example['image/height'][0] == 480 and example['image/width'][0] == 640
  assert example['image/class/label'] == [penn.CLASSES.index('baseball_pitch')]
  assert rr.metadata(example, 'num_frames') == [8]
  assert rr.metadata(example, 'source_id') == ['0001']
  assert rr.metadata(example, 'view') == ['front']
  # Output frame 100 shows input frame floor(100 * 8 / 663) = 1; LEFT_ELBOW is Penn joint 3.
  y, x = rr.point_2d(example, 'LEFT_ELBOW', 100)
  assert (y, x) == pytest.approx(((20 + 9 + 2) / 480, (10 + 15 + 1) / 640), abs=1e-6)
  y, x = rr.point_2d(example, 'RIGHT_ANKLE', 662)  # last frame shows the last input frame
  assert (y, x) == pytest.approx(((20 + 36 + 14) / 480, (10 + 60 + 7) / 640), abs=1e-6)
  [hidden] = rr.read_examples(out, 'test-left-')
  frame, joint = fx.PENN_HIDDEN
  output_frames = np.flatnonzero(penn.resample_indices(5) == frame)
  names = ('NOSE_TIP', 'LEFT_SHOULDER', 'RIGHT_SHOULDER', 'LEFT_ELBOW', 'RIGHT_ELBOW',
           'LEFT_WRIST')
  assert {rr.score(hidden, names[joint], int(t)) for t in output_frames} == {0.0}
  assert rr.score(hidden, names[joint], 0) == 1.0


def test_resampling_is_uniform_nearest_frame():
  counts = np.bincount(penn.resample_indices(100))
  assert counts.min() >= 6 and counts.max() <= 7 and len(counts) == 100
  np.testing.assert_array_equal(penn.resample_indices(663), np.arange(663))


def test_drop_rule_is_configurable(tmp_path):
  manifest = _convert(tmp_path, min_visible_joints=0.2)
  assert manifest['splits']['train']['views'] == {'front': 1, 'right': 1}


def test_strict_names_the_file_and_leaves_nothing(tmp_path):
  with pytest.raises(conversion.MalformedInput, match=r"0006.mat: field 'x'"):
    _convert(tmp_path, strict=True)
  assert rr.leftovers(tmp_path / 'out') == []


def test_missing_or_empty_directory(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    _convert(tmp_path, input_dir=str(tmp_path / 'nowhere'))
  (tmp_path / 'empty' / 'labels').mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match='holds no files'):
    _convert(tmp_path, input_dir=str(tmp_path / 'empty'))


def test_unreadable_file_is_skipped(tmp_path):
  labels = tmp_path / 'in' / 'labels'
  shutil.copytree(os.path.join(ROOT, 'labels'), labels)
  (labels / '0007.mat').write_bytes(b'not a mat file')
  manifest = _convert(tmp_path, input_dir=str(tmp_path / 'in'))
  assert any(s['source'].endswith('0007.mat') and 'not a readable' in s['reason']
             for s in manifest['skipped'])
  assert manifest['num_records'] == 3


def test_entry_point_strict_error_is_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'data_prep.penn_action', f'--input_dir={ROOT}', '--strict',
       f'--output_dir={tmp_path}/out', '--num_workers=1'], capture_output=True, text=True,
      check=False, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith('error: ')
  assert "0006.mat: field 'x'" in result.stderr
