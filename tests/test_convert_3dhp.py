"""MPI-INF-3DHP: fixtures written in the real formats (annot.mat v5 with cells of 14 cameras,
camera.calibration, annot_data.mat v7.3 / HDF5 stored transposed) -> pair records and sequence
records that the retrieval and lifting loaders read; a malformed file skipped and listed, or a
one-line error with --strict."""

import glob
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from data_prep import mpi_inf_3dhp_dataset as mpi
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards
from poem_cvmim.evaluation import frame_sources

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_H36M17 = keypoints.get_profile(keypoints.LEGACY_3DH36M17).keypoint_names


def _calibration(path, cameras=range(14)):
  lines = ['Skeletool Camera Calibration File V1.0']
  for c in cameras:
    lines += [f'name          {c}', '  sensor      10 10', '  size        2048 2048',
              '  animated    0',
              '  intrinsic   1497.693 0 1024.114 0 0 1497.103 1051.005 0 0 0 1 0 0 0 0 1 ',
              '  extrinsic   1 0 0 0 0 1 0 0 0 0 1 3000 0 0 0 1 ', '  radial      0']
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')


def _training_sequence(directory, rng, num_frames=6, annot2_shape=None):
  """annot.mat of 14 cameras: camera c's 3D is a known pose shifted by c (mm) and its 2D that
  pose's x, y plus c; returns (2D, 3D) [14, N, 28, dim]."""
  os.makedirs(directory, exist_ok=True)
  points_3d = rng.normal(scale=300.0, size=(14, num_frames, 28, 3)) + np.array([0, 0, 4000.0])
  points_2d = points_3d[..., :2] * 0.3 + 1024.0
  annot2 = np.empty((14, 1), object)
  annot3 = np.empty((14, 1), object)
  for c in range(14):
    annot2[c, 0] = points_2d[c].reshape(num_frames, 56)
    annot3[c, 0] = points_3d[c].reshape(num_frames, 84)
  if annot2_shape:
    annot2[3, 0] = np.zeros(annot2_shape)
  scipy.io.savemat(os.path.join(directory, 'annot.mat'), {
      'annot2': annot2, 'annot3': annot3, 'univ_annot3': annot3,
      'frames': np.arange(num_frames).reshape(-1, 1), 'cameras': np.arange(14).reshape(1, 14)})
  _calibration(os.path.join(directory, 'camera.calibration'))
  return points_2d, points_3d


def _test_sequence(directory, rng, num_frames=7):
  """annot_data.mat as MATLAB v7.3 writes it: HDF5 with a 512-byte header, arrays transposed."""
  os.makedirs(directory, exist_ok=True)
  annot3 = rng.normal(scale=300.0, size=(num_frames, 1, 17, 3))
  annot2 = annot3[..., :2] * 0.3 + 1000.0
  valid = np.ones((num_frames, 1))
  valid[2] = 0
  path = os.path.join(directory, 'annot_data.mat')
  with h5py.File(path, 'w', userblock_size=512) as f:
    for name, value in (('annot2', annot2), ('annot3', annot3), ('valid_frame', valid)):
      f.create_dataset(name, data=value.T).attrs['MATLAB_class'] = np.bytes_('double')
  with open(path, 'r+b') as f:
    f.write(b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Dec  3 2026 HDF5 schema 1.00 .')
  return annot2[:, 0], annot3[:, 0], valid[:, 0] > 0


def _records(pattern):
  files = sorted(glob.glob(pattern))
  return [r.numpy() for r in tf.data.TFRecordDataset(files)]


def test_training_and_test_sets_become_records_the_loaders_read(tmp_path):
  rng = np.random.default_rng(0)
  root, test_root = str(tmp_path / '3dhp'), str(tmp_path / 'test_set')
  truth = {s: _training_sequence(os.path.join(root, s, 'Seq1'), rng) for s in ('S1', 'S8')}
  test_2d, test_3d, valid = _test_sequence(os.path.join(test_root, 'TS1'), rng)
  output = str(tmp_path / 'out')
  manifests = mpi.convert(mpi.MpiInf3dhpConfig(
      output_dir=output, input_dir=root, test_dir=test_root, cameras=(0, 2, 5), frame_stride=2,
      clip_length=4), log=lambda _: None)
  pairs = manifests['pairs']
  # 3 frames (stride 2 of 6) x 6 ordered pairs of 3 cameras, per subject; S8 held out.
  assert pairs['splits']['train']['num_records'] == 18 == pairs['splits']['test']['num_records']
  parsed = records.parse_pair_example(tf.constant(_records(os.path.join(output, 'pairs',
                                                                        'train-*'))),
                                      with_metadata=True)
  cameras = parsed['camera'].numpy().astype(str)
  frames = parsed['frame_index'].numpy()[:, 0]
  row = next(i for i in range(18) if tuple(cameras[i]) == ('cam2', 'cam5') and frames[i] == 4)
  points_2d, points_3d = truth['S1']
  mapped_3d = points_3d[:, :, mpi.TRAIN_TO_H36M17]
  np.testing.assert_allclose(parsed['keypoints_3d'].numpy()[row, 1],
                             mapped_3d[5, 4][:, [1, 0, 2]], rtol=1e-5)
  mapped_2d = points_2d[:, :, mpi.TRAIN_TO_H36M17][:, :, keypoints.H36M17_TO_COCO13]
  np.testing.assert_allclose(parsed['keypoints_2d'].numpy()[row, 0] * 2048.0,
                             mapped_2d[2, 4][:, ::-1], rtol=1e-5)
  assert _H36M17[mpi.TRAIN_TO_H36M17.index(mpi.TRAIN_JOINTS.index('head_top'))] == 'Head'
  # The retrieval loader reads each camera's frames once (6 records hold each), with that
  # camera's 3D; --frame_stride keeps frame indices divisible by it.
  frames_by_view = frame_sources.load_pair_frames(os.path.join(output, 'pairs', 'test-*'))
  assert sorted(frames_by_view) == ['cam0', 'cam2', 'cam5']
  cam5 = frames_by_view['cam5']
  np.testing.assert_array_equal(cam5.frames, [0, 2, 4])
  assert set(cam5.clips) == {os.path.join('S8', 'Seq1')}
  np.testing.assert_allclose(cam5.poses_3d, frame_sources.normalized_3d(
      truth['S8'][1][5, [0, 2, 4]][:, mpi.TRAIN_TO_H36M17][..., [1, 0, 2]]), rtol=1e-4, atol=1e-5)
  strided = frame_sources.load_pair_frames(os.path.join(output, 'pairs', 'test-*'), frame_stride=4)
  np.testing.assert_array_equal(strided['cam0'].frames, [0, 4])
  assert sorted(frame_sources.select_views(frames_by_view, ['cam5', 'cam0'])) == ['cam0', 'cam5']
  with pytest.raises(ValueError, match='--cameras=cam5,cam9: give at least 2 of cam0, cam2, cam5'):
    frame_sources.select_views(frames_by_view, ['cam5', 'cam9'])

  sequences = manifests['test_sequences']
  assert sequences['views'] == ['TS1'] and sequences['sequence_length'] == 4
  # 6 valid frames of 7 (frame 2 is not), every 2nd: frames 0, 3, 5 -> one clip of 3 of 4
  # (padded by replay, which the loader leaves out).
  loaded = frame_sources.load_multiview_frames(os.path.join(output, 'test_sequences'), 'test',
                                           with_3d=True)
  np.testing.assert_array_equal(loaded['TS1'].frames, [0, 1, 2])
  kept = np.flatnonzero(valid)[::2]
  assert kept.tolist() == [0, 3, 5]
  expected = frame_sources.normalized_3d(test_3d[kept][:, mpi.TEST_TO_H36M17][..., [1, 0, 2]])
  np.testing.assert_allclose(loaded['TS1'].poses_3d, expected, rtol=1e-4, atol=1e-5)


def test_a_malformed_sequence_is_skipped_and_listed_or_a_one_line_error(tmp_path):
  rng = np.random.default_rng(1)
  root = str(tmp_path / '3dhp')
  _training_sequence(os.path.join(root, 'S1', 'Seq1'), rng)
  bad = os.path.join(root, 'S2', 'Seq1')
  _training_sequence(bad, rng, annot2_shape=(6, 40))
  manifests = mpi.convert(mpi.MpiInf3dhpConfig(output_dir=str(tmp_path / 'out'), input_dir=root,
                                               cameras=(0, 1)), log=lambda _: None)
  skipped = manifests['pairs']['skipped']
  assert [s['source'] for s in skipped] == [os.path.join(bad, 'annot.mat')]
  assert skipped[0]['reason'] == 'annot2 of camera 3 has shape (6, 40), expected (6, 56)'
  assert manifests['pairs']['num_records'] == 2  # S1: frame 0 (stride 10), 2 ordered pairs
  result = subprocess.run(
      [sys.executable, '-m', 'data_prep.mpi_inf_3dhp', f'--input_dir={root}',
       f'--output_dir={tmp_path / "strict"}', '--strict', '--num_workers=1'],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode != 0
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: {bad}/annot.mat: annot2 of camera 3 has shape (6, 40), expected (6, 56)')
  assert not glob.glob(str(tmp_path / 'strict' / '*.tfrecord'))
  with open(os.path.join(bad, 'camera.calibration'), 'w') as f:
    f.write('name 0\n  size 2048\n')
  with pytest.raises(mpi.conversion.MalformedInput, match=r'camera.calibration:2: bad size'):
    mpi.read_calibration(os.path.join(bad, 'camera.calibration'))
  with pytest.raises(ValueError, match='at least two distinct numbers in 0-13'):
    mpi.MpiInf3dhpConfig(output_dir='x', input_dir=root, cameras=(0, 14))
  assert shards.read_manifest(str(tmp_path / 'out' / 'pairs'))['dataset'] == 'mpi_inf_3dhp_pairs'
