"""Human3.6M converter on the fixtures in tests/testdata/h36m (data_prep/README.md)."""

import collections
import dataclasses
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from data_prep import conversion
from data_prep import h36m_cameras
from data_prep import h36m_dataset as h36m
from data_prep import h36m_sources
from poem_cvmim.core import keypoints
from poem_cvmim.core import shards
from tests import record_reading as rr
from tests.testdata import make_fixtures as fx

ROOT = os.path.join(fx.HERE, fx.H36M)
H5_DIR = os.path.join(ROOT, 'h5')
CSV = os.path.join(ROOT, 'detections.csv')
NPZ_3D = os.path.join(ROOT, 'data_3d_h36m.npz')
NPZ_2D = os.path.join(ROOT, 'data_2d_h36m_gt.npz')
CDF_DIR = os.path.join(ROOT, 'cdf')
HEAD_32 = keypoints.H36M32_TO_H36M17[1]  # the 32-joint index of Head (NOSE_TIP in 2D)
H5_EATING = os.path.join(H5_DIR, 'S5', 'MyPoses', '3D_positions', 'Eating.h5')


def _convert(tmp_path, name='out', **overrides):
  config = h36m.H36mConfig(output_dir=str(tmp_path / name), **overrides)
  return tmp_path / name, h36m.convert(config, log=lambda _: None)


def _pairs_by_frame(examples):
  pairs = collections.defaultdict(set)
  for e in examples:
    pairs[(rr.metadata(e, 'source_id')[0], rr.metadata(e, 'frame_index')[0])].add(
        tuple(rr.metadata(e, 'camera')))
  return pairs


def test_committed_fixtures_hold_what_the_writer_writes(tmp_path):
  fx.write_h36m(str(tmp_path))
  with open(CSV) as f:
    assert f.read() == fx.h36m_csv()
  for subject, stem, _ in fx.H36M_H5:
    name = os.path.join(subject, 'MyPoses', '3D_positions', f'{stem}.h5')
    with h5py.File(os.path.join(H5_DIR, name)) as a, h5py.File(tmp_path / 'h5' / name) as b:
      np.testing.assert_array_equal(a['3D_positions'], b['3D_positions'])
  for name in ('data_3d_h36m.npz', 'data_2d_h36m_gt.npz'):
    with np.load(os.path.join(ROOT, name), allow_pickle=True) as a, np.load(
        tmp_path / name, allow_pickle=True) as b:
      assert sorted(a.files) == sorted(b.files)
      for key in a.files:
        assert repr(a[key].item()) == repr(b[key].item())


def test_projection_matches_a_pinhole_and_quaternion_reference():
  camera = h36m_cameras.load_cameras()['S1'][0]
  point = np.array([120.0, -40.0, 900.0])
  # Reference: rotate by the inverse of the camera's orientation quaternion (Hamilton product).
  w, x, y, z = np.array([0.1407056450843811, -0.1500701755285263, -0.755240797996521,
                         0.6223280429840088])
  q_inv = np.array([w, -x, -y, -z]) / (w * w + x * x + y * y + z * z)

  def product(a, b):
    return np.array([a[0] * b[0] - a[1:] @ b[1:],
                     *(a[0] * b[1:] + b[0] * a[1:] + np.cross(a[1:], b[1:]))])
  local = product(product(q_inv, np.r_[0, point - camera.translation]),
                  np.array([w, x, y, z]))[1:]
  np.testing.assert_allclose(h36m_cameras.world_to_camera(point, camera), local, atol=1e-6)
  pinhole = dataclasses.replace(camera, radial=np.zeros(3), tangential=np.zeros(2))
  np.testing.assert_allclose(h36m_cameras.project(point, pinhole),
                             camera.focal_length * local[:2] / local[2] + camera.center)
  assert np.linalg.norm(h36m_cameras.project(point, camera) -
                        h36m_cameras.project(point, pinhole)) < 20  # distortion is small


def test_h5_tree_projected_all_twelve_pairs_inside_the_image(tmp_path):
  out, manifest = _convert(tmp_path, h5_dir=H5_DIR)
  assert manifest['splits'] == {'train': {'num_records': 48, 'views': {}, 'classes': {}},
                                'val': {'num_records': 36, 'views': {}, 'classes': {}}}
  assert 'projected' in manifest['two_d_source']
  [skip] = manifest['skipped']
  assert skip['source'] == H5_EATING and '(96, N)' in skip['reason']
  examples = rr.read_examples(out)
  pairs = _pairs_by_frame(examples)
  assert len(pairs) == 4 + 3
  ordered = {(a, b) for a in fx.H36M_CAMERAS for b in fx.H36M_CAMERAS if a != b}
  assert all(found == ordered for found in pairs.values()) and len(ordered) == 12
  assert {rr.metadata(e, 'source_id')[0] for e in examples} == {'S1/Directions 1',
                                                                  'S9/TakingPhoto'}
  for e in examples:
    for name in fx.COCO13:
      for i in range(2):
        y, x = rr.point_2d(e, name, i)
        assert 0 < y < 1 and 0 < x < 1
  example = next(e for e in examples if rr.metadata(e, 'frame_index') == [2, 2]
                 and rr.metadata(e, 'camera') == ['58860488', '54138969']
                 and rr.metadata(e, 'subject') == ['S1', 'S1'])
  head = fx.h36m_pose(2, 'S1')[HEAD_32]
  camera = h36m_cameras.load_cameras()['S1'][2]
  assert rr.point_2d(example, 'NOSE_TIP', 0) == pytest.approx(
      tuple(h36m_cameras.project_normalized(head, camera)), abs=1e-6)
  assert example['image/height'] == [1000, 1002]
  assert rr.point_3d(example, 'Head', 1) == pytest.approx((head[1], head[0], head[2]))


def test_detection_csv_paired_and_unpaired_rows(tmp_path):
  out, manifest = _convert(tmp_path, h5_dir=H5_DIR, csv=CSV)
  # S1: 4 cameras at frames 0-2 (12 pairs each), 3 at frame 3 (6); S9 'Photo': 3 x 12.
  assert manifest['splits']['train']['num_records'] == 3 * 12 + 6
  assert manifest['splits']['val']['num_records'] == 36
  by_reason = {(s['source'], s.get('line')): s['reason'] for s in manifest['skipped']}
  assert 'row has 5 columns' in by_reason[(CSV, fx.H36M_CSV_BAD_LINE)]
  assert '1 of 16 camera-frames' in by_reason[(os.path.join(
      H5_DIR, 'S1', 'MyPoses', '3D_positions', 'Directions 1.h5'), None)]
  examples = rr.read_examples(out)
  assert len(_pairs_by_frame(examples)[('S1/Directions 1', 3)]) == 6
  example = next(e for e in examples if rr.metadata(e, 'frame_index') == [1, 1]
                 and rr.metadata(e, 'camera') == ['55011271', '60457274'])
  for index, camera_index in enumerate((1, 3)):
    detection = fx.h36m_detection(camera_index, 1)
    for joint, name in enumerate(fx.COCO13):
      assert rr.point_2d(example, name, index) == pytest.approx(
          (detection[joint, 1], detection[joint, 0]), abs=1e-6)
      assert rr.score(example, name, index) == pytest.approx(detection[joint, 2])


def test_subject_selection(tmp_path):
  _, train = _convert(tmp_path, 'train', h5_dir=H5_DIR, csv=CSV, subjects='train')
  assert list(train['splits']) == ['train']
  _, val = _convert(tmp_path, 'val', h5_dir=H5_DIR, subjects='val')
  assert list(val['splits']) == ['val'] and val['skipped'] == []
  _, listed = _convert(tmp_path, 'listed', h5_dir=H5_DIR, subjects='S9,S1', frame_stride=2)
  assert listed['num_records'] == 2 * 12 + 2 * 12  # frames 0, 2 of S1 and of S9
  with pytest.raises(ValueError, match='subjects must be'):
    h36m.H36mConfig(output_dir=str(tmp_path), h5_dir=H5_DIR, subjects='S1;S5')


def test_videopose3d_npz_re_indexed_by_name_in_mm(tmp_path):
  out, manifest = _convert(tmp_path, npz_3d=NPZ_3D, npz_2d=NPZ_2D)
  assert manifest['splits']['train']['num_records'] == 48
  assert manifest['splits']['val']['num_records'] == 36  # S11 'WalkDog' -> 'WalkingDog'
  examples = rr.read_examples(out)
  example = next(e for e in examples if rr.metadata(e, 'source_id') == ['S11/WalkingDog']
                 and rr.metadata(e, 'frame_index') == [2, 2]
                 and rr.metadata(e, 'camera') == ['60457274', '55011271'])
  # NOSE_TIP <- VideoPose3D 'Head' (k = 10); camera 4 (index 3) has a 1002-row image.
  assert rr.point_2d(example, 'NOSE_TIP', 0) == pytest.approx(
      ((200 + 200 + 4) / 1002, (100 + 100 + 2 + 21) / 1000), abs=1e-6)
  # LEFT_KNEE <- 'LKnee' (k = 5), camera 2 (index 1).
  assert rr.point_2d(example, 'LEFT_KNEE', 1) == pytest.approx(
      ((200 + 100 + 4) / 1000, (100 + 50 + 2 + 7) / 1000), abs=1e-6)
  head = fx.h36m_pose(2, 'S11')[HEAD_32]
  assert rr.point_3d(example, 'Head', 0) == pytest.approx((head[1], head[0], head[2]),
                                                          abs=1e-3)
  _, projected = _convert(tmp_path, 'projected', npz_3d=NPZ_3D)
  assert projected['num_records'] == 84


def test_official_cdf(tmp_path):
  out, manifest = _convert(tmp_path, cdf_dir=CDF_DIR)
  subject, _, frames = fx.H36M_CDF
  assert manifest['splits'] == {'train': {'num_records': frames * 12, 'views': {},
                                          'classes': {}}}
  example = rr.read_examples(out)[-1]
  assert rr.metadata(example, 'subject') == [subject, subject]
  frame = rr.metadata(example, 'frame_index')[0]
  hip = fx.h36m_pose(frame, subject)[0]
  assert rr.point_3d(example, 'Hip', 1) == pytest.approx((hip[1], hip[0], hip[2]))


def test_strict_and_input_errors(tmp_path):
  with pytest.raises(conversion.MalformedInput, match='Eating.h5'):
    _convert(tmp_path, h5_dir=H5_DIR, strict=True)
  assert rr.leftovers(tmp_path / 'out') == []
  with pytest.raises(conversion.MalformedInput, match=f'detections.csv:{fx.H36M_CSV_BAD_LINE}'):
    _convert(tmp_path, h5_dir=H5_DIR, csv=CSV, strict=True, subjects='S9')
  with pytest.raises(ValueError, match='exactly one 3D source'):
    h36m.H36mConfig(output_dir=str(tmp_path), h5_dir=H5_DIR, cdf_dir=CDF_DIR)
  with pytest.raises(FileNotFoundError, match='does not exist'):
    _convert(tmp_path, h5_dir=str(tmp_path / 'nowhere'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match='holds no files'):
    _convert(tmp_path, h5_dir=str(tmp_path / 'empty'))


def test_action_aliases():
  assert h36m_sources.canonical_action('Photo 1') == 'TakingPhoto 1'
  assert h36m_sources.canonical_action('WalkDog') == 'WalkingDog'
  assert h36m_sources.canonical_action('Walking 1') == 'Walking 1'


def test_entry_point_converts_and_summarises(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'data_prep.h36m', f'--h5_dir={H5_DIR}', '--subjects=S1',
       f'--output_dir={tmp_path}/out', '--num_workers=1'], capture_output=True, text=True,
      check=False, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert result.returncode == 0, result.stderr
  assert 'h36m: 48 records, 0 skipped' in result.stdout
  assert '[h36m] 1/1 sequences' in result.stderr
  assert shards.read_manifest(str(tmp_path / 'out'))['subjects'] == 'S1'


def test_frame_table_sorts_rows_and_keeps_the_later_duplicate():
  table = h36m_sources.FrameTable.build(
      [5, 2, 5], [[10, 10], [20, 20], [30, 30]], np.zeros((3, 13, 2)), [[1.0] * 13,
                                                                        [2.0] * 13,
                                                                        [3.0] * 13])
  assert table.frames.tolist() == [2, 5]
  assert table.image_sizes.tolist() == [[20, 20], [30, 30]]
  assert table.row(5) == 1 and table.row(2) == 0
  assert table.row(3) is None and table.row(9) is None
