"""Inputs checked before they are trusted, and figures printed only where they were measured:
the cases of the second reliability pass that a library call shows (the commands' one-line
errors are in test_command_errors.py)."""

import json
import os

import numpy as np
import pytest

from data_prep import h36m_sources
from data_prep import ntu_rgbd_dataset as ntu
from data_prep import ntu_skeleton
from poem_cvmim.core import errors
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import run_dirs
from poem_cvmim.core import detections
from poem_cvmim.evaluation import retrieval
from tests import test_detections
from tests.testdata import make_fixtures as fx


def _openpose_rig(directory, frames=5, shift=0.0):
  """Two cameras of one recording; the right wrist rises frame by frame."""
  for camera, offset in (('cam_a', 0.0), ('cam_b', 300.0)):
    (directory / camera).mkdir(parents=True)
    for frame in range(frames):
      values = np.array(test_detections._layout_values(detections.BODY25, offset + shift))
      values = values.reshape(-1, 3)
      values[4, 1] -= 40 * frame
      with open(directory / camera / f'{camera}_{frame:012d}_keypoints.json', 'w') as f:
        json.dump({'people': [{'pose_keypoints_2d': values.ravel().tolist()}]}, f)


def test_one_recording_has_no_same_camera_rate_and_says_why(tmp_path):
  """Within one recording every other frame is the same performance: the rate is not
  measured (it used to be the first camera's share of frames, 50 % here)."""
  _openpose_rig(tmp_path / 'take')
  frames = detections.read_rig_directory(str(tmp_path / 'take'))
  embedders = {'raw': _raw_embedder()}
  summary = retrieval.evaluate_embedders(embedders, frames, ks=(1,))
  assert summary['embedders']['raw']['same_view_rate'] == {'pose': None}
  table = retrieval.markdown(summary, (1,))
  assert '| raw | frame ±0 | 100.0 | 100.0 | – | – |' in table
  assert 'Same camera: – (not measured: every frame is of one recording' in table


def test_same_camera_rate_counts_only_frames_with_another_performance():
  embeddings = {'a': np.array([[0.0], [10.0], [20.0]]), 'b': np.array([[0.1], [10.1], [30.0]])}
  frames = {v: retrieval.Frames(poses=np.zeros((3, 13, 2)), clips=np.array(clips),
                                frames=np.arange(3))
            for v, clips in (('a', ['x', 'x', 'y']), ('b', ['x', 'x', 'x']))}
  # Frames of clip x see only y's frame (camera a); y's frame sees all x frames.
  rate = retrieval.same_view_rate(embeddings, frames)
  # a0 -> a2 (same), a1 -> a2 (same), a2 -> b1 (other), b0/b1/b2 -> a2 (other).
  assert rate == pytest.approx(2 / 6)


def test_recordings_sharing_a_folder_name_stay_two_performances(tmp_path):
  for day in ('day1', 'day2'):
    _openpose_rig(tmp_path / day / 'take', shift=0.0 if day == 'day1' else 7.0)
  clips = {detections.read_rig_directory(str(tmp_path / d / 'take'))['cam_a'].clips[0]
           for d in ('day1', 'day2')}
  assert len(clips) == 2, clips


def _raw_embedder():
  from poem_cvmim.evaluation import embedders  # pylint: disable=g-import-not-at-top
  return embedders.load_embedder(embedders.RAW)


@pytest.mark.parametrize('values, message', [
    (['0', '0'], 'must be positive'), (['-1080', '1920'], 'must be positive'),
    (['1080'], 'takes HEIGHT,WIDTH'), (['1080', 'wide'], 'not two numbers'),
    (['nan', '1920'], 'must be positive'), (['1', '2', '3'], 'takes HEIGHT,WIDTH')])
def test_image_size_is_two_positive_numbers(values, message):
  with pytest.raises(errors.InputError, match=message):
    pose_inputs.parse_image_size(values)
  assert pose_inputs.parse_image_size(['1080', '1920']) == (1080.0, 1920.0)


def _pixel_poses(count=3):
  values = np.array(test_detections._layout_values(detections.COCO17)).reshape(-1, 3)
  pose = values[[0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], :2][:, ::-1]  # (y, x)
  return np.repeat(pose[None], count, axis=0)


def test_pixels_with_an_image_size_and_units_without_one_are_refused():
  pixels = _pixel_poses()
  with pytest.raises(errors.InputError, match=r'coordinates reach .*drop --image_size'):
    detections.normalize(pixels, (2160.0, 3840.0), 'poses.npy')
  with pytest.raises(errors.InputError, match=r'as if normalised .*--image_size=HEIGHT,WIDTH'):
    detections.normalize(pixels / 4000.0, None, 'poses.npy')
  np.testing.assert_allclose(detections.normalize(pixels / 4000.0, (4000.0, 4000.0)),
                             detections.normalize(pixels), atol=1e-6)


def test_a_degenerate_pose_is_refused_by_its_index():
  poses = _pixel_poses(4)
  poses[2] = 0.0
  with pytest.raises(errors.InputError, match=r'poses.csv: pose 2 \(0-based; 1 in all\) has its '
                     'shoulders and hips at one point'):
    detections.normalize(poses, None, 'poses.csv')
  poses[2] = 300.0  # every joint at one pixel
  with pytest.raises(errors.InputError, match='pose 2'):
    pose_inputs.check_not_degenerate(poses, 'poses.csv')


def test_ntu_joints_without_colour_coordinates_are_unseen_and_a_clip_without_any_skipped(
    tmp_path):
  joints = np.stack([fx.ntu_joints(1, f) for f in range(6)])
  joints[2, :, [ntu_skeleton.FIELD_COLOR_X, ntu_skeleton.FIELD_COLOR_Y]] = 0.0
  joints[4, 3, [ntu_skeleton.FIELD_COLOR_X, ntu_skeleton.FIELD_COLOR_Y]] = 0.0  # a neck joint
  filled, reason = ntu.fill_unprojected_frames(joints)
  assert reason is None
  colour = [ntu_skeleton.FIELD_COLOR_X, ntu_skeleton.FIELD_COLOR_Y]
  np.testing.assert_array_equal(filled[2][:, colour], joints[1][:, colour])  # nearest frame
  points, scores = ntu.keypoints_2d(filled)
  assert np.all(scores[2] == 0.0) and np.all(scores[[0, 1, 3, 5]] > 0)
  joints[4, 4, colour] = 0.0  # the left shoulder (kept by the 13) is not projected
  assert ntu.keypoints_2d(joints)[1][4, 1] == 0.0
  joints[:, :, colour] = 0.0
  path = tmp_path / 'S001C001P001R001A001.skeleton'
  path.write_text(ntu_skeleton.format_skeleton([[('72057594037931101', j)] for j in joints]))
  result = ntu.convert_sequence_file((str(path), ntu.XSUB))
  assert not result.outputs
  assert 'no colour-image coordinates' in json.dumps(result.skipped)


@pytest.mark.parametrize('content', [b'hello, this is text\n', 'truncated'])
def test_h36m_npz_that_is_text_or_truncated_is_one_malformed_input(tmp_path, content):
  path = tmp_path / 'data_3d_h36m.npz'
  if content == 'truncated':
    whole = open(os.path.join(os.path.dirname(fx.__file__), 'h36m', 'data_3d_h36m.npz'),
                 'rb').read()
    content = whole[:len(whole) // 2]
  path.write_bytes(content)
  with pytest.raises(errors.InputError, match=f'{path}: not a readable .npz file'):
    h36m_sources.read_videopose3d(str(path))


def test_a_classifier_run_is_evaluated_only_on_the_table_it_was_trained_on(tmp_path):
  from poem_cvmim.action import protocols  # pylint: disable=g-import-not-at-top
  tables = {}
  for name, embedder in (('cvmim', 'runs/cvmim@2800'), ('other', 'runs/other@2800')):
    tables[name] = tmp_path / name
    tables[name].mkdir()
    (tables[name] / 'manifest.json').write_text(json.dumps(
        {'embedder': embedder, 'feature_dim': 32}))
  run = tmp_path / 'run'
  run_dirs.write_identity(str(run), {'features': run_dirs.dataset_identity(str(tables['cvmim']))})
  protocols.check_trained_on(str(run), str(tables['cvmim']))
  with pytest.raises(run_dirs.RunConflictError,
                     match=r'was trained on the features .*cvmim \(embedder runs/cvmim@2800\), '
                     r'not on .*other \(embedder runs/other@2800\)'):
    protocols.check_trained_on(str(run), str(tables['other']))
  with pytest.raises(run_dirs.RunConflictError, match='does not record the feature table'):
    protocols.check_trained_on(str(tmp_path / 'cvmim'), str(tables['other']))


def test_a_classifier_of_another_feature_width_is_one_line(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from poem_cvmim.action import classify  # pylint: disable=g-import-not-at-top
  checkpoint = tf.train.Checkpoint(feature_mean=tf.Variable(tf.zeros([26])))
  checkpoint.save(str(tmp_path / 'ckpt'))
  with pytest.raises(errors.InputError, match='a classifier of 26 input features a frame; '
                     'these features have 32'):
    classify.restore_classifier(str(tmp_path), 'CONVNET', (10, 32), 4)
