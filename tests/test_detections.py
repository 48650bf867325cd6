"""Detector output in: OpenPose, COCO results and MMPose files written in their real formats
(a few frames, two people, a missing joint, malformed files), and what becomes of them."""

import json

import numpy as np
import pytest

from poem_cvmim.core import detections
from poem_cvmim.core import frames as frames_lib

# A person in pixels: joint name -> (x, y); the 13 joints only.
_BODY = {'NOSE_TIP': (500, 100), 'LEFT_SHOULDER': (540, 200), 'RIGHT_SHOULDER': (460, 200),
         'LEFT_ELBOW': (560, 300), 'RIGHT_ELBOW': (440, 300), 'LEFT_WRIST': (570, 400),
         'RIGHT_WRIST': (430, 400), 'LEFT_HIP': (530, 420), 'RIGHT_HIP': (470, 420),
         'LEFT_KNEE': (535, 560), 'RIGHT_KNEE': (465, 560), 'LEFT_ANKLE': (540, 700),
         'RIGHT_ANKLE': (460, 700)}


def _expected_yx(shift=0.0):
  return np.array([[_BODY[n][1], _BODY[n][0] + shift] for n in detections.TARGET_NAMES])


def _layout_values(layout, shift=0.0, confidence=0.9, missing=()):
  """Flat x, y, c triples of the body in a detector layout (unused joints at 1, 1, 0.5)."""
  values = []
  for name in detections.LAYOUTS[layout]:
    if name and name not in missing:
      x, y = _BODY[name]
      values += [x + shift, y, confidence]
    elif name in missing:
      values += [0.0, 0.0, 0.0]
    else:
      values += [1.0, 1.0, 0.5]
  return values


def _write(path, data):
  with open(path, 'w') as f:
    json.dump(data, f)


@pytest.mark.parametrize('layout', [detections.BODY25, detections.COCO18])
def test_openpose_folder_two_people_and_a_missing_joint(tmp_path, layout):
  folder = tmp_path / 'cam1'
  folder.mkdir()
  for frame in range(3):
    # A confident person shifted by 10 * frame pixels and a faint one; frame 1 misses the
    # left wrist of the confident person.
    missing = ('LEFT_WRIST',) if frame == 1 else ()
    people = [{'person_id': [-1], 'pose_keypoints_2d': _layout_values(layout, 900, 0.2)},
              {'person_id': [-1], 'pose_keypoints_2d': _layout_values(
                  layout, 10 * frame, 0.9, missing)}]
    _write(folder / f'video_{frame:012d}_keypoints.json', {'version': 1.3, 'people': people})
  track = detections.read_track(str(folder))
  assert detections.detect_format(str(folder)) == detections.OPENPOSE
  np.testing.assert_array_equal(track.frames, [0, 1, 2])
  np.testing.assert_allclose(track.points[0], _expected_yx(0))
  np.testing.assert_allclose(track.points[2], _expected_yx(20))
  wrist = detections.TARGET_NAMES.index('LEFT_WRIST')
  assert track.scores[1, wrist] == 0 and track.scores[1].sum() == pytest.approx(0.9 * 12)
  filled, missing = detections.fill_missing(track)
  assert missing[1, wrist] and missing.sum() == 1
  # Interpolated halfway between frames 0 and 2.
  np.testing.assert_allclose(filled[1, wrist], _expected_yx(10)[wrist])
  np.testing.assert_allclose(filled[1], _expected_yx(10))
  # Other rules: the first listed person is the faint one; the largest is the confident one
  # (same size here: the first of equals).
  first = detections.read_track(str(folder), person='first')
  np.testing.assert_allclose(first.points[0], _expected_yx(900))


def test_openpose_body25b_needs_its_layout_named(tmp_path):
  folder = tmp_path / 'cam'
  folder.mkdir()
  _write(folder / 'x_000000000007_keypoints.json',
         {'people': [{'pose_keypoints_2d': _layout_values(detections.BODY25B)}]})
  track = detections.read_track(str(folder), layout=detections.BODY25B)
  np.testing.assert_allclose(track.points[0], _expected_yx())
  assert track.frames.tolist() == [7]
  # Read as BODY_25 (the default for 25 joints) the joints land elsewhere.
  assert not np.allclose(detections.read_track(str(folder)).points[0], _expected_yx())


def test_coco_results_pick_the_highest_score_per_image(tmp_path):
  path = tmp_path / 'cam2.json'
  results = []
  for image_id in (3, 1, 2):
    results.append({'image_id': image_id, 'category_id': 1, 'score': 0.3,
                    'keypoints': _layout_values(detections.COCO17, 500, 0.9)})
    results.append({'image_id': image_id, 'category_id': 1, 'score': 0.8,
                    'keypoints': _layout_values(detections.COCO17, image_id, 0.4)})
  _write(path, results)
  assert detections.detect_format(str(path)) == detections.COCO
  track = detections.read_track(str(path))
  np.testing.assert_array_equal(track.frames, [1, 2, 3])
  for row, image_id in enumerate((1, 2, 3)):  # the result's score decides, not the joints'
    np.testing.assert_allclose(track.points[row], _expected_yx(image_id))


def _instances(shift, missing=()):
  values = np.array(_layout_values(detections.COCO17, shift, 0.9, missing)).reshape(-1, 3)
  return {'keypoints': values[:, :2].tolist(), 'keypoint_scores': values[:, 2].tolist(),
          'bbox': [[0, 0, 10, 10]], 'bbox_score': 0.9}


def test_mmpose_video_file_image_folder_and_named_joints(tmp_path):
  video = tmp_path / 'cam3.json'
  _write(video, {'meta_info': {}, 'instance_info': [
      {'frame_id': f, 'instances': [_instances(f)]} for f in (1, 2)]})
  track = detections.read_track(str(video))
  np.testing.assert_allclose(track.points[1], _expected_yx(2))
  inferencer = tmp_path / 'cam4.json'
  _write(inferencer, [{'frame_id': 5, 'instances': [_instances(0), _instances(300)]}])
  assert detections.read_track(str(inferencer)).frames.tolist() == [5]
  folder = tmp_path / 'cam5'
  folder.mkdir()
  for f in range(2):
    _write(folder / f'frame_{f:04d}.json', [_instances(f, ('RIGHT_KNEE',))])
  assert detections.detect_format(str(folder)) == detections.MMPOSE
  track = detections.read_track(str(folder))
  assert track.scores[:, detections.TARGET_NAMES.index('RIGHT_KNEE')].tolist() == [0, 0]
  # A joint never detected takes its parent's position (the hip for a knee).
  filled, _ = detections.fill_missing(track)
  np.testing.assert_allclose(filled[:, detections.TARGET_NAMES.index('RIGHT_KNEE')],
                             filled[:, detections.TARGET_NAMES.index('RIGHT_HIP')])
  # Joints named by meta_info in another order.
  names = ['right_ankle', 'left_ankle', 'right_knee', 'left_knee', 'right_hip', 'left_hip',
           'right_wrist', 'left_wrist', 'right_elbow', 'left_elbow', 'right_shoulder',
           'left_shoulder', 'nose']
  ours = [n.upper().replace('NOSE', 'NOSE_TIP') for n in names]
  named = tmp_path / 'cam6.json'
  _write(named, {'meta_info': {'keypoint_id2name': {str(i): n for i, n in enumerate(names)}},
                 'instance_info': [{'frame_id': 0, 'instances': [{
                     'keypoints': [list(_BODY[n]) for n in ours],
                     'keypoint_scores': [1.0] * 13}]}]})
  np.testing.assert_allclose(detections.read_track(str(named)).points[0], _expected_yx())


def test_malformed_files_are_named_in_one_line_errors(tmp_path):
  folder = tmp_path / 'cam'
  folder.mkdir()
  _write(folder / 'a_000000000000_keypoints.json', {'people': []})
  (folder / 'a_000000000001_keypoints.json').write_text('{"people": [')
  with pytest.raises(ValueError, match='a_000000000001_keypoints.json: not valid JSON'):
    detections.read_track(str(folder))
  bad = tmp_path / 'bad.json'
  _write(bad, [{'image_id': 1, 'keypoints': [1.0, 2.0]}])
  with pytest.raises(ValueError, match=r'bad.json: result 0: 2 keypoint values'):
    detections.read_track(str(bad))
  coco13 = tmp_path / 'short.json'
  _write(coco13, [{'image_id': 1, 'keypoints': [1.0, 2.0, 1.0] * 13}])
  with pytest.raises(ValueError, match='short.json: result 0 has 13 joints, COCO has 17'):
    detections.read_track(str(coco13))
  odd = tmp_path / 'odd'
  odd.mkdir()
  _write(odd / 'f_1_keypoints.json', {'people': [{'pose_keypoints_2d': [1.0, 2.0, 1.0] * 19}]})
  with pytest.raises(ValueError, match='19 joints a person'):
    detections.read_track(str(odd))
  empty = tmp_path / 'empty'
  empty.mkdir()
  _write(empty / 'f_1_keypoints.json', {'people': []})
  with pytest.raises(ValueError, match='no shoulder or hip detected'):
    detections.fill_missing(detections.read_track(str(empty)))
  with pytest.raises(FileNotFoundError, match='nowhere'):
    detections.read_track(str(tmp_path / 'nowhere'))


def test_rig_normalises_and_asks_for_the_image_size_of_unit_coordinates(tmp_path):
  rig = tmp_path / 'rig'
  for camera, shift in (('left', 0), ('right', 40)):
    (rig / camera).mkdir(parents=True)
    for frame in range(2):
      _write(rig / camera / f'{camera}_{frame:012d}_keypoints.json',
             {'people': [{'pose_keypoints_2d': _layout_values(detections.BODY25, shift)}]})
  cameras = detections.rig_cameras(str(rig))
  assert list(cameras) == ['left', 'right']
  frames = detections.read_rig(cameras, clip='take1')
  # Translation does not change a normalised pose; hips are centred, the torso's side is 0.5.
  np.testing.assert_allclose(frames['left'].poses, frames['right'].poses, atol=1e-6)
  hips = [detections.TARGET_NAMES.index(n) for n in ('LEFT_HIP', 'RIGHT_HIP')]
  np.testing.assert_allclose(frames['left'].poses[:, hips].mean(axis=1), 0.0, atol=1e-6)
  assert frames['left'].clips.tolist() == ['take1', 'take1']
  unit = tmp_path / 'unit'
  unit.mkdir()
  scaled = np.array(_layout_values(detections.BODY25)).reshape(-1, 3) / [1000, 1000, 1]
  _write(unit / 'u_000000000000_keypoints.json',
         {'people': [{'pose_keypoints_2d': scaled.ravel().tolist()}]})
  track = detections.read_track(str(unit))
  with pytest.raises(ValueError, match='--image_size'):
    detections.normalize(detections.fill_missing(track)[0], None, str(unit))
  np.testing.assert_allclose(
      detections.normalize(detections.fill_missing(track)[0], (1000, 1000)),
      frames['left'].poses[:1], atol=1e-5)
  lonely = tmp_path / 'lonely'
  (lonely / 'only_camera').mkdir(parents=True)
  with pytest.raises(ValueError, match='1 camera.* needs at least two'):
    detections.rig_cameras(str(lonely))


def test_detector_noise_is_seeded_and_keeps_normalised_poses():
  rng = np.random.default_rng(0)
  poses = rng.normal(size=(40, 13, 2)).astype(np.float32)
  from poem_cvmim.core import keypoints
  poses = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).normalize(poses)[0]
  frames = {'a': frames_lib.Frames(poses=poses, clips=np.array(['c'] * 20 + ['d'] * 20),
                                   frames=np.tile(np.arange(20), 2))}
  noisy = detections.add_detector_noise(frames, np.random.default_rng(1))
  again = detections.add_detector_noise(frames, np.random.default_rng(1))
  np.testing.assert_array_equal(noisy['a'].poses, again['a'].poses)
  clean = detections.add_detector_noise(frames, np.random.default_rng(1), 0.0, 0.0, 0.0)
  np.testing.assert_allclose(clean['a'].poses, poses, atol=1e-6)
  assert 0.0 < np.abs(noisy['a'].poses - poses).mean() < 0.2
  flipped = detections.add_detector_noise(frames, np.random.default_rng(1), 0.0, 0.0, 1.0)
  left, right = detections.TARGET_NAMES.index('LEFT_WRIST'), detections.TARGET_NAMES.index(
      'RIGHT_WRIST')
  np.testing.assert_allclose(flipped['a'].poses[:, left], poses[:, right], atol=1e-6)


def test_frames_select_stride_and_concat_keep_rows_aligned():
  a = frames_lib.Frames(poses=np.arange(12.0).reshape(3, 2, 2), clips=np.array(['x'] * 3),
                        frames=np.array([0, 1, 2]), filled=np.zeros((3, 2), bool))
  b = frames_lib.Frames(poses=np.arange(12.0, 20.0).reshape(2, 2, 2), clips=np.array(['y'] * 2),
                        frames=np.array([0, 2]), filled=np.ones((2, 2), bool))
  both = frames_lib.Frames.concat([a, b])
  assert len(both) == 5 and both.clips.tolist() == ['x', 'x', 'x', 'y', 'y']
  even = both.stride(2)
  assert even.frames.tolist() == [0, 2, 0, 2] and even.clips.tolist() == ['x', 'x', 'y', 'y']
  np.testing.assert_array_equal(even.poses, both.poses[[0, 2, 3, 4]])
  np.testing.assert_array_equal(even.filled, both.filled[[0, 2, 3, 4]])
  assert not both.has_3d
  with pytest.raises(ValueError, match='unequal lengths'):
    frames_lib.Frames(poses=np.zeros((2, 2, 2)), clips=np.array(['x']), frames=np.array([0]))
  with pytest.raises(ValueError, match='different arrays'):
    frames_lib.Frames.concat([a, b.replace(filled=None)])
