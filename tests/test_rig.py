"""Your own rig: MediaPipe landmarks read, a folder of per-camera detections (four formats) to
pair records, an encoder adapted to it and its retrieval table in three commands; bad rigs
answered in one line."""

import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data_prep import rig_dataset
from poem_cvmim.core import detections
from poem_cvmim.core import errors
from poem_cvmim.core import records
from poem_cvmim.core import shards
from poem_cvmim.representation import configs
from poem_cvmim.representation import trainer as trainer_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ENV = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
_COCO17 = detections.LAYOUTS[detections.COCO17]
_BLAZE = detections.LAYOUTS[detections.BLAZEPOSE33]


def _write(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(data, f)


def _in_layout(yx, scores, layout):
  """[(x, y, score)] of a 13-joint (y, x) pose in a detector layout (other joints 0)."""
  names = list(detections.TARGET_NAMES)
  return [(float(yx[names.index(n), 1]), float(yx[names.index(n), 0]),
           float(scores[names.index(n)])) if n else (0.0, 0.0, 0.0) for n in layout]


def _write_camera(directory, camera, form, yx, scores):
  """One camera's detections [T, 13, 2] (y, x pixels) in a detector's real file format."""
  frames = range(len(yx))
  if form == 'openpose':
    for t in frames:
      flat = [v for joint in _in_layout(yx[t], scores[t], detections.LAYOUTS[detections.COCO18])
              for v in joint]
      _write(os.path.join(directory, camera, f'{camera}_{t:012d}_keypoints.json'),
             {'version': 1.3, 'people': [{'pose_keypoints_2d': flat}]})
  elif form == 'coco':
    _write(os.path.join(directory, f'{camera}.json'), [
        {'image_id': t, 'category_id': 1, 'score': 0.9,
         'keypoints': [v for j in _in_layout(yx[t], scores[t], _COCO17) for v in j]}
        for t in frames])
  elif form == 'mmpose':
    _write(os.path.join(directory, f'{camera}.json'), [
        {'frame_id': t, 'instances': [{
            'keypoints': [[x, y] for x, y, _ in _in_layout(yx[t], scores[t], _COCO17)],
            'keypoint_scores': [c for _, _, c in _in_layout(yx[t], scores[t], _COCO17)],
            'bbox_score': 0.9}]} for t in frames])
  else:  # MediaPipe BlazePose landmarks, pixel coordinates
    _write(os.path.join(directory, f'{camera}.json'), [
        {'frame': t, 'pose_landmarks': [
            {'x': x, 'y': y, 'z': 0.0, 'visibility': c}
            for x, y, c in _in_layout(yx[t], scores[t], _BLAZE)]} for t in frames])


_FORMS = {'front': 'openpose', 'back': 'coco', 'left': 'mmpose', 'right': 'mediapipe'}


def write_rig(sequence_dir, output_dir, clips=2, frames=24):
  """Recordings of the first `clips` test clips of a synthetic penn-like set: one folder per
  clip, one camera per view, each camera in another detector format."""
  manifest = shards.read_manifest(sequence_dir)
  length = manifest['sequence_length']
  by_clip = {}
  for view in _FORMS:
    for path in sorted(glob.glob(shards.shard_pattern(sequence_dir, 'test', view))):
      for serialized in tf.data.TFRecordDataset(path):
        parsed = records.parse_sequence_example(serialized, length)
        clip = parsed['source_id'].numpy().decode().rsplit('_', 1)[0]
        pixels = (parsed['keypoints_2d'].numpy() * parsed['image_sizes'].numpy()[:, None])
        by_clip.setdefault(clip, {})[view] = (pixels[:frames], parsed['keypoint_scores_2d']
                                              .numpy()[:frames])
  chosen = [c for c in sorted(by_clip) if len(by_clip[c]) == len(_FORMS)][:clips]
  folders = []
  for clip in chosen:
    folder = os.path.join(output_dir, clip)
    for view, (yx, scores) in by_clip[clip].items():
      _write_camera(folder, view, _FORMS[view], yx, np.maximum(scores, 0.05))
    folders.append(folder)
  return folders


def test_mediapipe_landmarks_in_every_common_layout(tmp_path):
  rng = np.random.default_rng(0)
  yx = rng.uniform(0.2, 0.8, size=(3, 13, 2))
  scores = np.full((3, 13), 0.9)
  people = lambda t: [{'x': x, 'y': y, 'z': 0.1, 'visibility': c}
                      for x, y, c in _in_layout(yx[t], scores[t], _BLAZE)]
  # A file of frames with normalised landmarks (one person each), numbered by "frame_index".
  _write(str(tmp_path / 'a.json'), [{'frame_index': 10 + t, 'pose_landmarks': people(t)}
                                    for t in range(3)])
  # A folder of per-frame files with lists of people ([x, y, z, visibility] landmarks).
  for t in range(3):
    _write(str(tmp_path / 'b' / f'frame_{t:04d}.json'), {'pose_landmarks': [
        [[x, y, 0.0, c] for x, y, c in _in_layout(yx[t], scores[t], _BLAZE)]]})
  for path in (tmp_path / 'a.json', tmp_path / 'b'):
    assert detections.detect_format(str(path)) == detections.MEDIAPIPE
    track = detections.read_track(str(path))
    np.testing.assert_allclose(track.points, yx, atol=1e-12)
    np.testing.assert_allclose(track.scores, scores)
  assert list(detections.read_track(str(tmp_path / 'a.json')).frames) == [10, 11, 12]
  _write(str(tmp_path / 'short.json'), [{'frame': 0, 'pose_landmarks': people(0)[:20]}])
  with pytest.raises(errors.InputError, match='frame 0, person 0: 20 landmarks, BlazePose has '
                     '33'):
    detections.read_track(str(tmp_path / 'short.json'))


def test_a_rig_becomes_pair_records_of_every_ordered_camera_pair(smoke_dir, tmp_path):
  folders = write_rig(os.path.join(smoke_dir, 'penn_like'), str(tmp_path / 'rigs'), clips=1,
                      frames=5)
  manifest = rig_dataset.convert(rig_dataset.RigConfig(rigs=folders,
                                                       output_dir=str(tmp_path / 'pairs')),
                                 log=lambda _: None)
  assert manifest['num_records'] == 5 * 4 * 3
  files = sorted(glob.glob(str(tmp_path / 'pairs' / 'train-*')))
  parsed = records.parse_pair_example(
      tf.constant([r.numpy() for r in tf.data.TFRecordDataset(files)]), profile_3d=None,
      with_metadata=True)
  assert set(parsed['source_id'].numpy().astype(str)) == {os.path.normpath(folders[0])}
  pairs = {tuple(c) for c in parsed['camera'].numpy().astype(str)}
  assert len(pairs) == 12 and all(a != b for a, b in pairs)
  np.testing.assert_array_equal(parsed['frame_index'].numpy()[:, 0],
                                parsed['frame_index'].numpy()[:, 1])
  assert sorted(set(parsed['frame_index'].numpy()[:, 0])) == list(range(5))
  # The stored keypoints are the detections: every camera's pixels come back.
  read = detections.read_track(os.path.join(folders[0], 'left.json'))
  rows = [i for i, c in enumerate(parsed['camera'].numpy().astype(str)) if c[0] == 'left']
  pixels = parsed['keypoints_2d'].numpy()[rows, 0] * parsed['image_sizes'].numpy()[rows, 0, None]
  order = parsed['frame_index'].numpy()[rows, 0]
  np.testing.assert_allclose(pixels, read.points[order], rtol=1e-5)


def _command(module, *argv):
  result = subprocess.run([sys.executable, '-m', module, *argv], cwd=_ROOT, capture_output=True,
                          text=True, timeout=600, env=_ENV)
  return result


def test_three_commands_from_a_rig_to_an_adapted_encoder_and_its_table(smoke_dir, tmp_path):
  folders = write_rig(os.path.join(smoke_dir, 'penn_like'), str(tmp_path / 'rigs'))
  general = str(tmp_path / 'general')
  trainer_lib.Trainer(configs.smoke_config(input_table=os.path.join(smoke_dir, 'pairs', 'train-*'),
                                    output_dir=general), log=lambda _: None).train()
  pairs, adapted, table = (str(tmp_path / n) for n in ('pairs', 'adapted', 'table'))
  converted = _command('data_prep.detections', f'--rig={",".join(folders)}',
                       f'--output_dir={pairs}')
  assert converted.returncode == 0, converted.stderr[-2000:]
  assert 'rig_pairs: 576 records' in converted.stdout  # 2 clips x 24 frames x 12 pairs
  trained = _command('poem_cvmim.train', f'--input_table={pairs}/train-*',
                     f'--log_dir_path={adapted}', f'--init_from={general}',
                     '--model_input_keypoint_type=2D_INPUT', '--temporal_negatives',
                     '--alignment_loss_weight=1',  # as the README's adaptation command
                     '--instants_per_clip=4', '--negative_gap=4', '--batch_size=8',
                     '--num_iterations=3', '--seed=0')
  assert trained.returncode == 0, trained.stderr[-2000:]
  assert 'networks initialised from' in trained.stdout + trained.stderr
  evaluated = _command('poem_cvmim.evaluate_retrieval', f'--detections={",".join(folders)}',
                       f'--embedders=raw,{adapted}', f'--output_dir={table}')
  assert evaluated.returncode == 0, evaluated.stderr[-2000:]
  with open(os.path.join(table, 'retrieval.json')) as f:
    summary = json.load(f)
  assert len(summary['embedders']) == 2 and os.path.exists(os.path.join(table, 'retrieval.md'))


def test_bad_rigs_are_one_line_errors(smoke_dir, tmp_path):
  folders = write_rig(os.path.join(smoke_dir, 'penn_like'), str(tmp_path / 'rigs'), clips=1,
                      frames=6)
  rig = folders[0]
  cases = []
  short = os.path.join(rig, 'back.json')  # one camera loses its last frame
  with open(short) as f:
    results = json.load(f)
  _write(short, results[:-1])
  cases.append((rig, "the cameras disagree on the frames (back 5 frames (0-4), front 6 frames "
                "(0-5)"))
  empty = str(tmp_path / 'empty_camera')  # the rig with an OpenPose folder left empty
  shutil.copytree(rig, empty)
  for path in glob.glob(os.path.join(empty, 'front', '*.json')):
    os.remove(path)
  os.remove(os.path.join(empty, 'back.json'))
  cases.append((empty, 'front: no .json files'))
  nobody = str(tmp_path / 'nobody')
  for camera in ('a', 'b'):
    _write(os.path.join(nobody, camera, f'{camera}_000000000000_keypoints.json'),
           {'people': []})
  cases.append((nobody, 'a: no shoulder or hip detected in any frame'))
  for folder, expected in cases:
    result = _command('data_prep.detections', f'--rig={folder}',
                      f'--output_dir={tmp_path / "out"}')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], result.stderr


def test_a_rig_with_3d_for_a_few_frames_trains_mcss(smoke_dir, tmp_path):
  """poses_3d.npz in one recording: its frames' records hold that 3D (stored (y, x, z)), every
  other record zeros; MCSS trains on them from the command; a malformed file is one line."""
  folders = write_rig(os.path.join(smoke_dir, 'penn_like'), str(tmp_path / 'rigs'), clips=2,
                      frames=24)
  poses = np.random.default_rng(0).normal(size=(3, 17, 3))
  np.savez(os.path.join(folders[0], rig_dataset.POSES_3D_FILE), frames=np.array([0, 5, 23]),
           poses_3d=poses)
  pairs = str(tmp_path / 'pairs')
  converted = _command('data_prep.detections', f'--rig={",".join(folders)}',
                       f'--output_dir={pairs}')
  assert converted.returncode == 0, converted.stderr[-2000:]
  assert '24 frames (3 with 3D)' in converted.stdout and '24 frames (0 with 3D)' in converted.stdout
  files = sorted(glob.glob(os.path.join(pairs, 'train-*')))
  parsed = records.parse_pair_example(
      tf.constant([r.numpy() for r in tf.data.TFRecordDataset(files)]), with_metadata=True)
  stored = parsed['keypoints_3d'].numpy()
  clips = parsed['source_id'].numpy().astype(str)
  frames = parsed['frame_index'].numpy()[:, 0]
  for index, frame in enumerate([0, 5, 23]):
    rows = (clips == os.path.normpath(folders[0])) & (frames == frame)
    assert rows.sum() == 12
    np.testing.assert_allclose(stored[rows], np.broadcast_to(poses[index][:, [1, 0, 2]],
                                                             (12, 2, 17, 3)), rtol=1e-6)
  known = (clips == os.path.normpath(folders[0])) & np.isin(frames, [0, 5, 23])
  assert not np.any(stored[~known])
  run = str(tmp_path / 'mcss')
  trained = _command('poem_cvmim.train', '--algorithm_type=MCSS', f'--input_table={pairs}/train-*',
                     f'--log_dir_path={run}', '--instants_per_clip=4', '--negative_gap=4',
                     '--batch_size=8', '--num_iterations=3', '--seed=0')
  assert trained.returncode == 0, trained.stderr[-2000:]
  terms = json.loads(trained.stdout[trained.stdout.index('{'):])
  assert terms['step'] == 3 and 0.0 <= terms['lifting/rows_with_3d'] <= 1.0

  np.savez(os.path.join(folders[1], rig_dataset.POSES_3D_FILE), frames=np.array([1, 99]),
           poses_3d=np.zeros((2, 17, 3)))
  refused = _command('data_prep.detections', f'--rig={folders[1]}',
                     f'--output_dir={tmp_path / "refused"}')
  assert refused.returncode != 0
  assert refused.stderr.strip().splitlines()[-1].endswith(
      "poses_3d.npz: frames [99] are not among the cameras' frames.")
