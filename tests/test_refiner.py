"""The keypoint refiner as a user gets it: its inputs (windows, detector model, tracks files),
the classic filters, training that resumes exactly, a restored refiner in a fresh process, and
`refine` writing detector files back in their own format."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data_prep import synthetic_dataset
from data_prep import synthetic_tracks
from poem_cvmim.core import detection_writers
from poem_cvmim.core import detections
from poem_cvmim.core import errors
from poem_cvmim.core import tracks as tracks_lib
from poem_cvmim.temporal import filters
from poem_cvmim.temporal import noise as noise_lib
from poem_cvmim.temporal import refiner as refiner_lib
from poem_cvmim.temporal import tdmi
from poem_cvmim.temporal import windows

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CONFIG = refiner_lib.RefinerConfig(
    model=tdmi.TdmiConfig(radius=2, width=16, num_stages=2), batch_size=32, num_steps=20,
    checkpoint_interval=10, steps_per_loop=10)


@pytest.fixture(scope='module')
def train_tracks(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('tracks') / 'train.npz')
  tracks_lib.save(path, synthetic_tracks.part_tracks(synthetic_dataset.smoke_config(),
                                                     synthetic_tracks.TRAIN))
  return path


@pytest.fixture(scope='module')
def trained(train_tracks, tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp('refiner'))
  return run_dir, refiner_lib.train(_CONFIG, train_tracks, run_dir, verbose=False)


# ---- inputs -------------------------------------------------------------------------------

def test_fill_interpolates_like_np_interp_and_holds_the_ends():
  rng = np.random.default_rng(0)
  points = rng.normal(size=(12, 13, 2))
  present = rng.uniform(size=(12, 13)) > 0.4
  present[:, 0] = False  # never present: the hip centre
  present[:, 7:9] = True  # the hips
  filled = windows.fill(points, present)
  for j in range(1, 13):
    have = np.flatnonzero(present[:, j])
    if not len(have):
      continue
    for axis in range(2):
      np.testing.assert_allclose(filled[:, j, axis],
                                 np.interp(np.arange(12), have, points[have, j, axis]))
  np.testing.assert_allclose(filled[:, 0], points[:, 7:9].mean(axis=1))


def test_window_inputs_do_not_depend_on_where_and_how_big_the_person_is():
  rng = np.random.default_rng(1)
  clean = synthetic_tracks.part_tracks(synthetic_dataset.smoke_config(),
                                       synthetic_tracks.HELDOUT_MOTION).track(0)[:7]
  points, scores = noise_lib.corrupt(clean[None], noise_lib.DetectorNoise(), rng)
  inputs, centre, unit = windows.normalize(points, scores)
  moved, centre2, unit2 = windows.normalize(points * 3.0 + 40.0, scores)
  np.testing.assert_allclose(moved, inputs, atol=1e-9)
  np.testing.assert_allclose(centre2, centre * 3.0 + 40.0)
  np.testing.assert_allclose(windows.to_pixels(inputs[:, 3, :, :2], centre, unit),
                             windows.fill(points, scores > 0)[:, 3], atol=1e-9)


def test_window_indices_clamp_at_the_track_ends():
  np.testing.assert_array_equal(windows.window_indices(4, 2),
                                [[0, 0, 0, 1, 2], [0, 0, 1, 2, 3], [0, 1, 2, 3, 3],
                                 [1, 2, 3, 3, 3]])


def test_detector_model_rates_bursts_swaps_and_seed():
  clean = np.tile(np.random.default_rng(2).uniform(300, 700, (1, 1, 13, 2)), (400, 50, 1, 1))
  model = noise_lib.DetectorNoise(miss_rate=0.1, miss_burst=4)
  points, scores = noise_lib.corrupt(clean, model, np.random.default_rng(3))
  missed = scores == 0
  assert abs(missed.mean() - 0.1) < 0.01
  assert np.all(points[missed] == 0.0)
  runs = np.diff(np.concatenate([np.zeros((400, 1, 13)), missed, np.zeros((400, 1, 13))],
                                axis=1).astype(int), axis=1)
  starts, ends = np.nonzero(runs == 1), np.nonzero(runs == -1)
  lengths = ends[1] - starts[1]
  interior = (starts[1] > 0) & (ends[1] < 50)
  assert lengths[interior].min() >= 4  # bursts last at least miss_burst frames
  again, _ = noise_lib.corrupt(clean, model, np.random.default_rng(3))
  np.testing.assert_array_equal(again, points)
  swaps_only = noise_lib.DetectorNoise(jitter=0.0, miss_rate=0.0, swap_rate=0.5,
                                       outlier_rate=0.0)
  swapped, _ = noise_lib.corrupt(clean[:, :4], swaps_only, np.random.default_rng(4))
  flipped = np.any(swapped != clean[:, :4], axis=(-1, -2))
  assert 0.4 < flipped.mean() < 0.6
  np.testing.assert_array_equal(swapped[flipped], clean[:, :4][flipped][:, noise_lib.SWAP_ORDER])


def test_detector_model_refuses_bad_parameters():
  with pytest.raises(errors.InputError, match='miss_rate'):
    noise_lib.DetectorNoise(miss_rate=1.5)


def test_tracks_file_round_trip_and_one_line_errors(tmp_path):
  tracks = tracks_lib.from_list([np.ones((3, 13, 2)), 2 * np.ones((2, 13, 2))], ['a', 'a'],
                                ['left', 'right'], ['S1', 'S1'], [480, 640])
  path = str(tmp_path / 't.npz')
  tracks_lib.save(path, tracks)
  loaded = tracks_lib.load(path)
  np.testing.assert_array_equal(loaded.track(1), 2.0)
  assert loaded.names == ['a_left', 'a_right'] and loaded.num_frames == 5
  np.savez(str(tmp_path / 'bad.npz'), points=np.zeros((5, 13, 2)), starts=[0, 4],
           clips=['a', 'b'], views=['l', 'r'], subjects=['S', 'S'], image_size=[1, 1])
  with pytest.raises(errors.InputError, match='"starts" must run from 0'):
    tracks_lib.load(str(tmp_path / 'bad.npz'))
  np.savez(str(tmp_path / 'other.npz'), x=np.zeros(3))
  with pytest.raises(errors.InputError, match='not a tracks file'):
    tracks_lib.load(str(tmp_path / 'other.npz'))


# ---- classic filters ----------------------------------------------------------------------

@pytest.mark.parametrize('name', filters.FILTERS)
def test_filters_keep_a_still_pose_and_fill_missing_joints(name):
  pose = np.random.default_rng(5).uniform(100, 500, (13, 2))
  points, scores = np.tile(pose, (40, 1, 1)), np.ones((40, 13))
  points[10:13, 4], scores[10:13, 4] = 0.0, 0.0
  np.testing.assert_allclose(filters.apply(name, points, scores), np.tile(pose, (40, 1, 1)),
                             atol=1e-6)


def test_savitzky_golay_keeps_a_quadratic_and_butterworth_a_slow_motion():
  t = np.arange(60.0)
  quadratic = np.tile((0.05 * t ** 2 + t)[:, None, None], (1, 13, 2))
  np.testing.assert_allclose(filters.savitzky_golay(quadratic, np.ones((60, 13)), 9, 2),
                             quadratic, atol=1e-6)
  slow = np.tile((100.0 * np.sin(2 * np.pi * 0.5 * t / 30.0))[:, None, None], (1, 13, 2))
  smoothed = filters.butterworth(slow, np.ones((60, 13)), cutoff_hz=6.0)
  assert np.abs(smoothed - slow)[10:50].max() < 0.5


# ---- training, restoring, resuming --------------------------------------------------------

def test_restored_refiner_in_a_fresh_process_gives_the_trained_outputs(trained, train_tracks,
                                                                      tmp_path):
  run_dir, refiner = trained
  rng = np.random.default_rng(6)
  clean = tracks_lib.load(train_tracks).track(0)
  points, scores = noise_lib.corrupt(clean, _CONFIG.noise, rng)
  np.savez(str(tmp_path / 'in.npz'), points=points, scores=scores)
  script = ('import numpy as np, sys\n'
            'from poem_cvmim.temporal import refiner\n'
            'data = np.load(sys.argv[2])\n'
            'np.save(sys.argv[3], refiner.load(sys.argv[1]).refine(data["points"], '
            'data["scores"]))\n')
  subprocess.run([sys.executable, '-c', script, run_dir, str(tmp_path / 'in.npz'),
                  str(tmp_path / 'out.npy')], check=True, cwd=_ROOT, capture_output=True)
  np.testing.assert_allclose(np.load(str(tmp_path / 'out.npy')), refiner.refine(points, scores),
                             rtol=1e-6, atol=1e-4)
  assert not np.allclose(refiner.refine(points, scores), windows.fill(points, scores > 0))


def test_resumed_run_ends_with_the_uninterrupted_weights(train_tracks, tmp_path, monkeypatch):
  straight = refiner_lib.train(_CONFIG, train_tracks, str(tmp_path / 'a'), verbose=False)
  original = refiner_lib._Session.run  # pylint: disable=protected-access
  calls = []
  def killed_after_one_loop(self, tracks, num_steps):
    if calls:
      raise KeyboardInterrupt
    calls.append(num_steps)
    return original(self, tracks, num_steps)
  monkeypatch.setattr(refiner_lib._Session, 'run', killed_after_one_loop)  # pylint: disable=protected-access
  with pytest.raises(KeyboardInterrupt):
    refiner_lib.train(_CONFIG, train_tracks, str(tmp_path / 'b'), verbose=False)
  monkeypatch.setattr(refiner_lib._Session, 'run', original)  # pylint: disable=protected-access
  resumed = refiner_lib.train(_CONFIG, train_tracks, str(tmp_path / 'b'), verbose=False)
  for a, b in zip(straight.refiner.weights, resumed.refiner.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_other_settings_in_the_same_run_directory_are_refused(trained, train_tracks):
  run_dir, _ = trained
  other = refiner_lib.RefinerConfig(model=tdmi.TdmiConfig(radius=3, width=16, num_stages=2),
                                    batch_size=32, num_steps=20)
  with pytest.raises(errors.UserError, match='model.radius'):
    refiner_lib.train(other, train_tracks, run_dir, verbose=False)


# ---- refine: detector files in, the same files out ----------------------------------------

_BODY25_FROM_13 = detections._index_map(detections.LAYOUTS[detections.BODY25])  # pylint: disable=protected-access
_COCO17_FROM_13 = detections._index_map(detections.LAYOUTS[detections.COCO17])  # pylint: disable=protected-access


def _person_values(yx, count, index_map, confidence, missing=()):
  """Flat (x, y, c) triples of a layout of `count` joints; the other joints at (1, 2, 0.5)."""
  values = np.tile([1.0, 2.0, 0.5], (count, 1))
  values[index_map, 0], values[index_map, 1], values[index_map, 2] = yx[:, 1], yx[:, 0], confidence
  for joint in missing:
    values[index_map[joint]] = 0.0
  return values.reshape(-1).tolist()


def _motion():
  """A person moving for 12 frames, in pixels (y, x), with detector noise."""
  clean = synthetic_tracks.part_tracks(synthetic_dataset.smoke_config(),
                                       synthetic_tracks.HELDOUT_MOTION).track(0)[:12]
  points, _ = noise_lib.corrupt(clean, noise_lib.DetectorNoise(miss_rate=0.0),
                                np.random.default_rng(7))
  return points


def _write_openpose(folder, points):
  folder.mkdir()
  for frame, yx in enumerate(points):
    people = [] if frame == 5 else [
        {'person_id': [-1], 'pose_keypoints_2d': _person_values(yx + 300.0, 25, _BODY25_FROM_13,
                                                                0.3)},
        {'person_id': [-1], 'pose_keypoints_2d': _person_values(
            yx, 25, _BODY25_FROM_13, 0.9, missing=(4,) if frame in (2, 3) else ())}]
    _write_json(folder / f'take_{frame:012d}_keypoints.json', {'version': 1.3, 'people': people})


def _write_coco(path, points):
  results = []
  for frame, yx in enumerate(points):
    results.append({'image_id': frame, 'category_id': 1, 'score': 0.95,
                    'keypoints': _person_values(yx, 17, _COCO17_FROM_13, 0.8)})
    results.append({'image_id': frame, 'category_id': 1, 'score': 0.2,
                    'keypoints': _person_values(yx - 200.0, 17, _COCO17_FROM_13, 0.8)})
  _write_json(path, results)


def _write_json(path, data):
  with open(path, 'w') as f:
    json.dump(data, f)


def _commands(runs):
  """Runs [argv] of `refine` (or [(module, argv)]) in one process; their results."""
  runs = [run if isinstance(run, tuple) else ('poem_cvmim.refine', run) for run in runs]
  result = subprocess.run([sys.executable, '-m', 'tests.command_driver'], cwd=_ROOT,
                          input=json.dumps([{'module': module, 'argv': argv, 'env': {}}
                                            for module, argv in runs]),
                          capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.split('\nRESULTS ', 1)[1])


def test_refine_writes_openpose_and_coco_back_in_their_format(trained, tmp_path):
  run_dir, refiner = trained
  points = _motion()
  _write_openpose(tmp_path / 'openpose', points)
  _write_coco(tmp_path / 'coco.json', points)
  bad = tmp_path / 'bad.json'
  _write_json(bad, [{'image_id': 0, 'keypoints': [1.0, 2.0]}])
  (tmp_path / 'full').mkdir()
  (tmp_path / 'full' / 'x').write_text('')
  rig = tmp_path / 'rig'
  rig.mkdir()
  _write_openpose(rig / 'cam_a', points)
  _write_coco(rig / 'cam_b.json', points + 50.0)
  results = _commands([
      [f'--refiner={run_dir}', f'--input={tmp_path / "openpose"}', f'--output={tmp_path / "op"}'],
      [f'--refiner={run_dir}', f'--input={tmp_path / "coco.json"}', f'--output={tmp_path / "co"}'],
      [f'--refiner={run_dir}', f'--input={bad}', f'--output={tmp_path / "bad_out"}'],
      [f'--refiner={run_dir}', f'--input={tmp_path / "coco.json"}', f'--output={tmp_path}/full'],
      [f'--refiner={tmp_path}', f'--input={tmp_path / "coco.json"}', f'--output={tmp_path}/x'],
      [f'--refiner={run_dir}', f'--input={rig}', '--rig', f'--output={tmp_path / "rig_out"}']])
  assert [r['code'] for r in results] == [0, 0, 2, 2, 2, 0], results
  # A rig: each camera written under its own name, in its own format, readable as a rig.
  assert sorted(os.listdir(tmp_path / 'rig_out')) == ['cam_a', 'cam_b.json']
  assert sorted(os.listdir(tmp_path / 'rig_out' / 'cam_a')) == sorted(os.listdir(rig / 'cam_a'))
  assert set(detections.rig_cameras(str(tmp_path / 'rig_out'))) == {'cam_a', 'cam_b'}
  for result, message in zip(results[2:5], ('keypoint values', 'is not empty',
                                            'not a refiner run')):
    lines = result['stderr'].strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result['stderr']

  # OpenPose: same files, people and frames; the kept person's joints refined.
  inputs = sorted(os.listdir(tmp_path / 'openpose'))
  assert sorted(os.listdir(tmp_path / 'op')) == inputs
  track = detections.read_track(str(tmp_path / 'openpose'))
  found = track.people >= 0
  expected = refiner.refine(track.points, np.where(found[:, None], track.scores, 0.0))
  written = detections.read_track(str(tmp_path / 'op'))
  np.testing.assert_array_equal(written.frames, track.frames)
  np.testing.assert_allclose(written.points[found], expected[found], atol=1e-3)
  assert not np.allclose(written.points[found], track.points[found], atol=0.5)
  assert np.all(written.scores[2:4, 4] == pytest.approx(0.1))  # missing, now filled
  np.testing.assert_array_equal(written.scores[~np.isin(np.arange(12), [2, 3, 5])],
                                track.scores[~np.isin(np.arange(12), [2, 3, 5])])
  for name in inputs:
    with open(tmp_path / 'openpose' / name) as f:
      before = json.load(f)
    with open(tmp_path / 'op' / name) as f:
      after = json.load(f)
    assert len(after['people']) == len(before['people'])
    if before['people']:
      assert after['people'][0] == before['people'][0]  # the other person, untouched
      values = np.reshape(after['people'][1]['pose_keypoints_2d'], (25, 3))
      others = np.setdiff1d(np.arange(25), _BODY25_FROM_13)
      np.testing.assert_array_equal(values[others], np.tile([1.0, 2.0, 0.5], (len(others), 1)))

  # COCO: one file of the same name, both results of every image kept.
  assert os.listdir(tmp_path / 'co') == ['coco.json']
  with open(tmp_path / 'co' / 'coco.json') as f:
    after = json.load(f)
  assert len(after) == 24 and [r['image_id'] for r in after] == [r // 2 for r in range(24)]
  coco = detections.read_track(str(tmp_path / 'coco.json'))
  np.testing.assert_allclose(detections.read_track(str(tmp_path / 'co' / 'coco.json')).points,
                             refiner.refine(coco.points, coco.scores), atol=1e-3)
  with open(tmp_path / 'coco.json') as f:
    assert [r for r in after if r['score'] == 0.2] == [r for r in json.load(f)
                                                        if r['score'] == 0.2]


def test_writers_round_trip_mmpose_and_mediapipe(tmp_path):
  points = _motion()[:4]
  mmpose = tmp_path / 'mm.json'
  _write_json(mmpose, {'meta_info': {}, 'instance_info': [
      {'frame_id': f, 'instances': [{'keypoints': np.reshape(_person_values(
          yx, 17, _COCO17_FROM_13, 0.9), (17, 3))[:, :2].tolist(),
                                      'keypoint_scores': [0.9] * 17, 'bbox_score': 0.9}]}
      for f, yx in enumerate(points)]})
  landmarks = tmp_path / 'mp.json'
  height, width = 1080.0, 1920.0
  blaze = detections._index_map(detections.LAYOUTS[detections.BLAZEPOSE33])  # pylint: disable=protected-access
  frames = []
  for f, yx in enumerate(points):
    marks = [{'x': 0.5, 'y': 0.5, 'z': 0.0, 'visibility': 0.5} for _ in range(33)]
    for joint, index in enumerate(blaze):
      marks[index] = {'x': yx[joint, 1] / width, 'y': yx[joint, 0] / height, 'z': 0.1,
                      'visibility': 0.9}
    frames.append({'frame': f, 'pose_landmarks': marks})
  _write_json(landmarks, frames)
  moved = points + 7.0
  for path, size in ((mmpose, None), (landmarks, (height, width))):
    track = detections.read_track(str(path))
    detection_writers.write_refined(str(path), 'auto', track, moved, str(tmp_path / 'out'),
                                    image_size=size)
    back = detections.read_track(str(tmp_path / 'out' / path.name))
    scale = 1.0 if size is None else np.array(size)
    np.testing.assert_allclose(back.points * scale, moved, atol=1e-6)
    np.testing.assert_array_equal(back.scores, track.scores)
  with pytest.raises(errors.InputError, match='overwrite the input'):
    detection_writers.write_refined(str(mmpose), 'auto', detections.read_track(str(mmpose)),
                                    moved, str(tmp_path))


# ---- the ablation command -----------------------------------------------------------------

def test_ablation_table_is_the_result_files_rows(tmp_path):
  from experiments import refiner_ablation  # pylint: disable=g-import-not-at-top
  result = refiner_ablation.run(str(tmp_path), seeds=[0], num_steps=3, smoke=True,
                                tune_tracks=6, encoder='raw', frame_stride=8,
                                log=lambda _: None, variants=['TDMI w/o MI', 'TDMI'])
  with open(tmp_path / 'ablation.json') as f:
    saved = json.load(f)
  assert list(saved['rows']) == ['raw (interpolated)', 'Butterworth', 'Savitzky-Golay',
                                 'One-Euro', 'TDMI w/o MI', 'TDMI']
  table = (tmp_path / 'ablation.md').read_text()
  for name, row in saved['rows'].items():
    line = next(l for l in table.splitlines() if l.startswith(f'| {name} |'))
    cells = [c.strip() for c in line.strip('|').split('|')]
    assert cells[2] == f'{row["heldout_subjects"]["error_norm"][0]:.4f}'
    assert cells[8] == f'{row["heldout_motion"]["pck@0.1"][0]:.2f}'
  # Clean tracks retrieve themselves across cameras at least as well as noisy ones (raw
  # keypoints both ways); the rows are the inputs the methods produced.
  rows = result['retrieval']['rows']
  assert set(rows) == {'clean (no detector)', 'raw (interpolated)', 'Butterworth',
                       'Savitzky-Golay', 'One-Euro', 'TDMI seed 0'}
  assert rows['clean (no detector)']['raw']['hit'][2] >= rows['raw (interpolated)']['raw']['hit'][2]


def test_action_from_noisy_and_refined_detections(smoke_dir, trained, tmp_path):
  from experiments import refiner_action  # pylint: disable=g-import-not-at-top
  run_dir, refiner = trained
  sequences = os.path.join(smoke_dir, 'penn_like')
  markdown = refiner_action.run('raw', sequences, run_dir, str(tmp_path), [0], preset='smoke',
                                log=lambda _: None, with_raw=False, train_views=['front'])
  for kind in (refiner_action.CLEAN, refiner_action.NOISY, refiner_action.REFINED):
    assert f'raw keypoints: {kind}' in markdown
  # The refined table's features are the raw keypoints of the refined detections.
  from poem_cvmim.core import feature_tables  # pylint: disable=g-import-not-at-top
  noisy = feature_tables.load_feature_set(str(tmp_path / 'features' / 'raw_interpolated'), 'train')
  refined = feature_tables.load_feature_set(str(tmp_path / 'features' / 'raw_refined'), 'train')
  clean = feature_tables.load_feature_set(str(tmp_path / 'features' / 'raw_records'), 'train')
  assert noisy.features.shape == refined.features.shape == clean.features.shape
  assert not np.allclose(noisy.features, clean.features)
  assert not np.allclose(noisy.features, refined.features)
  hook = refiner_action.detector(refiner.config.noise, 0, refiner.refine)
  pixels = np.random.default_rng(8).uniform(300, 700, (1, 10, 13, 2))
  out = hook(pixels, np.array([4]), np.array(['clip']), 'front')
  np.testing.assert_array_equal(out[0, 4:8], out[0, :4])  # replayed as the records replay


def test_train_refiner_command_trains_resumes_and_refuses_other_settings(train_tracks, tmp_path):
  run_dir = str(tmp_path / 'run')
  small = [f'--tracks={train_tracks}', f'--output_dir={run_dir}', '--num_steps=4', '--width=8',
           '--radius=1', '--num_stages=1', '--batch_size=8', '--mi_weight=0', '--jitter=0.03']
  results = _commands([('poem_cvmim.train_refiner', small),
                       ('poem_cvmim.train_refiner', small),
                       ('poem_cvmim.train_refiner', small[:-1] + ['--jitter=0.05'])])
  assert [r['code'] for r in results] == [0, 0, 2], results
  with open(os.path.join(run_dir, refiner_lib.CONFIG_NAME)) as f:
    config = refiner_lib.RefinerConfig.from_dict(json.load(f))
  assert (config.model.radius, config.model.width, config.noise.jitter) == (1, 8, 0.03)
  assert os.path.exists(os.path.join(run_dir, 'ckpt-4.index'))
  assert os.listdir(os.path.join(run_dir, 'train'))  # TensorBoard scalars
  error = results[2]['stderr'].strip().splitlines()
  assert len(error) == 1 and 'config.noise.jitter' in error[0], results[2]['stderr']
  assert refiner_lib.load(run_dir).refine(np.ones((3, 13, 2)), np.ones((3, 13))).shape == (3, 13, 2)


def test_a_checkpoint_without_the_refiners_weights_is_refused(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  run_dir = tmp_path / 'run'
  run_dir.mkdir()
  (run_dir / refiner_lib.CONFIG_NAME).write_text(json.dumps(_CONFIG.to_dict()))
  tf.train.Checkpoint(other=tf.Variable(1.0)).save(str(run_dir / 'ckpt'))
  with pytest.raises(errors.InputError, match='does not hold the weights'):
    refiner_lib.load(str(run_dir))
