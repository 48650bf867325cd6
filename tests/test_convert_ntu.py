"""NTU RGB+D converter on the .skeleton fixtures in tests/testdata/ntu (data_prep/README.md)."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from data_prep import conversion
from data_prep import ntu_benchmark
from data_prep import ntu_rgbd_dataset as ntu
from data_prep import ntu_skeleton
from poem_cvmim.core import shards
from tests import record_reading as rr
from tests.testdata import make_fixtures as fx

SKELETONS = os.path.join(fx.HERE, fx.NTU, 'skeletons')
FIXTURE_MISSING_LIST = os.path.join(fx.HERE, fx.NTU, 'missing_list.txt')
MAIN = 'S001C001P001R001A001'
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _convert(tmp_path, **overrides):
  values = dict(input_dir=SKELETONS, output_dir=str(tmp_path / 'out'), mode='both')
  values.update(overrides)
  return ntu.convert(ntu.NtuConfig(**values), log=lambda _: None)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp('ntu')
  return tmp_path / 'out', _convert(tmp_path)


def test_committed_fixtures_are_what_the_writer_writes():
  for name, text in fx.ntu_files().items():
    with open(os.path.join(SKELETONS, name), newline='') as f:
      assert f.read() == text, name
  assert '\r\n' in text


def test_parser_reads_crlf_empty_frames_and_groups_bodies_by_id():
  parsed = ntu_skeleton.read_skeleton(os.path.join(SKELETONS, MAIN + '.skeleton'))
  assert parsed.num_frames == 12
  body = parsed.bodies[fx.BODY_MOVING]
  assert body.frames == [f for f in range(12) if f != fx.NTU_EMPTY_FRAME]
  np.testing.assert_allclose(body.joints[0], fx.ntu_joints(1, 0) - _inferred_offset(),
                             atol=1e-6)
  swapped = ntu_skeleton.read_skeleton(os.path.join(SKELETONS, fx.NTU_SWAPPED + '.skeleton'))
  assert list(swapped.bodies) == [fx.BODY_STILL, fx.BODY_MOVING]
  for frame, joints in zip(swapped.bodies[fx.BODY_MOVING].frames,
                           swapped.bodies[fx.BODY_MOVING].joints):
    np.testing.assert_allclose(joints, fx.ntu_joints(1, frame), atol=1e-5)
  body_id, actor = ntu_skeleton.main_actor(swapped)
  assert body_id == fx.BODY_MOVING
  np.testing.assert_allclose(actor[5], fx.ntu_joints(1, 5), atol=1e-5)


def _inferred_offset():
  """The fixture writes tracking state 1 (not 2) for one joint of frame 0."""
  offset = np.zeros((25, 12))
  offset[fx.NTU_INFERRED[1], ntu_skeleton.FIELD_TRACKING] = 1
  return offset


def test_main_actor_fills_absent_frames_from_the_nearest():
  parsed = ntu_skeleton.read_skeleton(os.path.join(SKELETONS, MAIN + '.skeleton'))
  _, actor = ntu_skeleton.main_actor(parsed)
  assert actor.shape == (12, 25, 12)
  np.testing.assert_allclose(actor[fx.NTU_EMPTY_FRAME], actor[fx.NTU_EMPTY_FRAME - 1])


def test_truncated_and_bad_files_name_the_line(tmp_path):
  with pytest.raises(conversion.MalformedInput) as error:
    ntu_skeleton.read_skeleton(os.path.join(SKELETONS, fx.NTU_TRUNCATED + '.skeleton'))
  assert error.value.line == fx.NTU_TRUNCATED_LINES + 1
  assert 'truncated' in error.value.reason
  lines = fx.ntu_files()[MAIN + '.skeleton'].split('\r\n')
  lines[5] = lines[5].replace('0.', 'x.', 1)
  with pytest.raises(conversion.MalformedInput, match=r'bad:6: joint line holds a non-number'):
    ntu_skeleton.parse_skeleton('\r\n'.join(lines), 'bad')
  lines = fx.ntu_files()[MAIN + '.skeleton'].split('\r\n')
  lines[2] = '72057594037931102 0 1'
  with pytest.raises(conversion.MalformedInput, match=r'bad:3: body info line has 3 fields'):
    ntu_skeleton.parse_skeleton('\r\n'.join(lines), 'bad')


def test_sequence_counts_skips_and_exact_values(converted):
  out, manifests = converted
  manifest = manifests['sequences']
  assert manifest == shards.read_manifest(str(out / 'sequences'))
  assert manifest['classes'] == [f'A{a:03d}' for a in range(1, 50)]
  assert manifest['views'] == ['C1R1', 'C1R2', 'C2R1', 'C2R2', 'C3R1', 'C3R2']
  assert manifest['splits'] == {
      'test': {'num_records': 1, 'views': {'C1R2': 1}, 'classes': {'A007': 1}},
      'train': {'num_records': 3, 'views': {'C1R1': 1, 'C2R1': 1, 'C3R1': 1},
                'classes': {'A001': 3}}}
  skipped = {os.path.basename(s['source']): s for s in manifest['skipped']}
  assert sorted(skipped) == sorted(f'{stem}.skeleton' for stem in
                                   (fx.NTU_TWO_PERSON, fx.NTU_TRUNCATED, fx.NTU_LISTED))
  assert skipped[fx.NTU_TRUNCATED + '.skeleton']['line'] == fx.NTU_TRUNCATED_LINES + 1
  assert 'single-person' in skipped[fx.NTU_TWO_PERSON + '.skeleton']['reason']
  assert 'missing' in skipped[fx.NTU_LISTED + '.skeleton']['reason']
  assert set(rr.leftovers(out / 'sequences')) == set(manifest['shards']) | {'manifest.json'}

  [example] = rr.read_examples(out / 'sequences', 'train-C1R1-')
  assert len(example['image/height']) == ntu.SEQUENCE_LENGTH
  assert example['image/class/label'] == [0]
  assert rr.metadata(example, 'num_frames') == [12]
  assert rr.metadata(example, 'subject') == ['P001']
  assert rr.metadata(example, 'view') == ['C1R1']
  assert rr.metadata(example, 'source_id') == [MAIN]
  # LEFT_SHOULDER is Kinect joint 4: colour (x, y) = (100 + 40 + t, 50 + 20 + 2t) pixels.
  for frame, source_frame in ((5, 5), (fx.NTU_EMPTY_FRAME, fx.NTU_EMPTY_FRAME - 1),
                              (12 + 5, 5), (299, 299 % 12)):
    y, x = rr.point_2d(example, 'LEFT_SHOULDER', frame)
    assert y == pytest.approx((70 + 2 * source_frame) / 1080, abs=1e-6)
    assert x == pytest.approx((140 + source_frame) / 1920, abs=1e-6)
  # NOSE_TIP is Kinect joint 3 (head), inferred in frame 0 (score 0.5), tracked elsewhere.
  assert rr.score(example, 'NOSE_TIP', 0) == 0.5
  assert rr.score(example, 'NOSE_TIP', 12) == 0.5
  assert rr.score(example, 'NOSE_TIP', 1) == 1.0
  [swapped] = rr.read_examples(out / 'sequences', 'test-C1R2-')
  y, x = rr.point_2d(swapped, 'RIGHT_WRIST', 3)  # Kinect joint 10 of the moving body
  assert (y, x) == pytest.approx(((50 + 50 + 6) / 1080, (100 + 100 + 3) / 1920), abs=1e-6)


def test_long_clips_are_cut_at_300_frames():
  joints = np.stack([fx.ntu_joints(2, f % 50) for f in range(310)])
  name = ntu_skeleton.parse_name('S002C002P002R001A003.skeleton')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  feature = tf.train.Example.FromString(ntu.sequence_record(name, joints)).features.feature
  assert len(feature['image/height'].int64_list.value) == 300
  assert feature['image/sequence/num_frames'].int64_list.value == [300]
  y = feature['image/object/part/LEFT_SHOULDER/center/y'].float_list.value
  assert y[299] == pytest.approx((70 + 2 * (299 % 50)) / 1080, abs=1e-6)


def test_pairs_come_from_synchronised_cameras(converted):
  out, manifests = converted
  manifest = manifests['pairs']
  # Cameras 1, 2, 3 of one motion (12, 12, 10 frames): 6 ordered pairs x 10 frames.
  assert manifest['num_records'] == 60
  assert manifest['splits']['train']['num_records'] == 60
  assert manifest['profile_3d'] == '3DSTD13'
  examples = rr.read_examples(out / 'pairs')
  cameras = {tuple(rr.metadata(e, 'camera')) for e in examples}
  assert len(cameras) == 6 and all(a != b for a, b in cameras)
  assert {rr.metadata(e, 'frame_index')[0] for e in examples} == set(range(10))
  example = next(e for e in examples if rr.metadata(e, 'camera') == ['C002', 'C003']
                 and rr.metadata(e, 'frame_index') == [7, 7])
  for index, camera in enumerate((2, 3)):
    joints = fx.ntu_joints(camera, 7)
    assert rr.point_2d(example, 'LEFT_HIP', index) == pytest.approx(
        (joints[12, 6] / 1080, joints[12, 5] / 1920), abs=1e-6)
    assert rr.point_3d(example, 'HEAD', index) == pytest.approx(
        (joints[3, 1], joints[3, 0], joints[3, 2]), abs=1e-6)


def test_user_missing_list_and_cross_view_split(tmp_path):
  manifests = _convert(tmp_path, missing_list=FIXTURE_MISSING_LIST, benchmark='xview')
  sequences, pairs = manifests['sequences'], manifests['pairs']
  # The fixture list holds S001C003P001R001A001 only (its header lines are not names).
  assert sequences['splits']['train']['views'] == {'C2R1': 1, 'C2R2': 1}
  assert sequences['splits']['test']['views'] == {'C1R1': 1, 'C1R2': 1}
  # Cameras 1 and 2 remain, both 12 frames: 2 ordered pairs x 12 frames, all with camera 1.
  assert pairs['splits'] == {'test': {'num_records': 24, 'views': {}, 'classes': {}}}


def test_strict_stops_at_the_malformed_file_and_writes_nothing(tmp_path):
  with pytest.raises(conversion.MalformedInput, match=fx.NTU_TRUNCATED + r'.skeleton:41'):
    _convert(tmp_path, strict=True, mode='sequences')
  assert rr.leftovers(tmp_path / 'out' / 'sequences') == []


def test_missing_or_empty_input_directory_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    _convert(tmp_path, input_dir=str(tmp_path / 'nowhere'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match=r"holds no files matching '\*.skeleton'"):
    _convert(tmp_path, input_dir=str(tmp_path / 'empty'))


def test_two_workers_write_the_same_bytes(converted, tmp_path):
  out, manifests = converted
  again = _convert(tmp_path, num_workers=2)
  for part in ('sequences', 'pairs'):
    assert again[part]['shards'] == manifests[part]['shards']
    assert again[part]['skipped'] == manifests[part]['skipped']


def test_the_command_and_its_workers_never_load_tensorflow(converted, tmp_path):
  """The conversion command (two workers forked from it) imports no TensorFlow, in it or in
  its workers (`-X importtime` reaches forked workers too), and writes the in-process bytes."""
  out, manifests = converted
  result = subprocess.run(
      [sys.executable, '-X', 'importtime', '-m', 'data_prep.ntu_rgbd', f'--input_dir={SKELETONS}',
       f'--output_dir={tmp_path}/out', '--mode=both', '--num_workers=2'],
      capture_output=True, text=True, check=True, cwd=REPO)
  imported = [line.split('|')[-1].strip() for line in result.stderr.splitlines()
              if line.startswith('import time:')]
  assert 'numpy' in imported and 'data_prep.ntu_rgbd_dataset' in imported
  assert not [name for name in imported if name.startswith('tensorflow')]
  for part in ('sequences', 'pairs'):
    assert shards.read_manifest(str(tmp_path / 'out' / part))['shards'] == (
        manifests[part]['shards'])


def test_spawned_workers_run_without_tensorflow():
  """Where the parent has loaded TensorFlow, workers are spawned: they import the command's
  module and the worker functions, none of which loads it."""
  code = '\n'.join([
      'import sys',
      'from data_prep import conversion, ntu_rgbd, ntu_rgbd_dataset as ntu',
      f'paths = [{os.path.join(SKELETONS, MAIN + ".skeleton")!r}]',
      'assert ntu.convert_sequence_file((paths[0], ntu.XSUB)).outputs',
      f'paths.append({os.path.join(SKELETONS, MAIN.replace("C001", "C002") + ".skeleton")!r})',
      'assert ntu.convert_pair_group((tuple(paths), ntu.XSUB, 1)).outputs',
      'print(conversion._start_method(), "tensorflow" in sys.modules)',
      'import tensorflow',
      'print(conversion._start_method())'])
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          check=True, cwd=REPO)
  assert result.stdout.split() == ['fork', 'False', 'spawn']


def test_reading_some_fields_equals_reading_all(tmp_path):
  path = os.path.join(SKELETONS, fx.NTU_SWAPPED + '.skeleton')
  full = ntu_skeleton.read_skeleton(path)
  some = ntu_skeleton.read_skeleton(path, ntu.JOINT_FIELDS_READ)
  unread = [f for f in ntu_skeleton.ALL_FIELDS if f not in ntu.JOINT_FIELDS_READ]
  for body_id, body in full.bodies.items():
    assert some.bodies[body_id].frames == body.frames
    np.testing.assert_array_equal(some.bodies[body_id].joints[..., ntu.JOINT_FIELDS_READ],
                                  body.joints[..., ntu.JOINT_FIELDS_READ])
    assert np.isnan(some.bodies[body_id].joints[..., unread]).all()
  # Spaced otherwise (double spaces, tabs), a file reads the same by the full path; a
  # thirteenth field on a line is named even where the converter reads only some fields.
  text = fx.ntu_files()[fx.NTU_SWAPPED + '.skeleton']
  respaced = ntu_skeleton.parse_skeleton(text.replace(' ', '  \t'), 'x', ntu.JOINT_FIELDS_READ)
  for body_id, body in full.bodies.items():
    np.testing.assert_array_equal(respaced.bodies[body_id].joints, body.joints)
  lines = text.split('\r\n')
  lines[7] += ' 0.5'
  with pytest.raises(conversion.MalformedInput, match=r'bad:8: joint line has 13 fields'):
    ntu_skeleton.parse_skeleton('\r\n'.join(lines), 'bad', ntu.JOINT_FIELDS_READ)


def test_entry_point_reports_a_missing_directory(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'data_prep.ntu_rgbd', f'--input_dir={tmp_path}/none',
       f'--output_dir={tmp_path}/out'], capture_output=True, text=True, check=False,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert result.returncode == 2
  assert 'does not exist' in result.stderr


def test_config_is_validated():
  with pytest.raises(ValueError, match="mode must be one of"):
    ntu.NtuConfig(input_dir='x', output_dir='y', mode='all')
  with pytest.raises(ValueError, match="'xsub' or 'xview'"):
    dataclasses.replace(ntu.NtuConfig(input_dir='x', output_dir='y'), benchmark='cs')


@pytest.mark.parametrize('fields', [ntu_skeleton.ALL_FIELDS, ntu.JOINT_FIELDS_READ])
def test_arrow_reads_the_joint_lines_as_numpy_and_python_do(tmp_path, monkeypatch, fields):
  # Many random decimals (the benchmark's files): Arrow's reader, NumPy's and Python's float
  # give the same doubles; a file as the dataset writes it goes through Arrow.
  path = ntu_benchmark.write_file(str(tmp_path), 0, seed=3)
  arrow_rows = []
  arrow_floats = ntu_skeleton._arrow_floats
  def counting(block_lines, fields):
    values = arrow_floats(block_lines, fields)
    arrow_rows.append(None if values is None else values.shape[0])
    return values
  monkeypatch.setattr(ntu_skeleton, '_arrow_floats', counting)
  by_arrow = ntu_skeleton.read_skeleton(path, fields)
  body_frames = sum(len(body.frames) for body in by_arrow.bodies.values())
  assert arrow_rows == [ntu_skeleton.NUM_JOINTS * body_frames]  # one call, every joint line
  monkeypatch.setattr(ntu_skeleton, '_arrow_floats', lambda block_lines, fields: None)
  by_numpy = ntu_skeleton.read_skeleton(path, fields)
  reference = ntu_benchmark.plain_python_skeleton(path)
  for body_id, body in reference.bodies.items():
    assert by_arrow.bodies[body_id].frames == body.frames
    np.testing.assert_array_equal(by_arrow.bodies[body_id].joints[..., fields],
                                  np.stack(body.joints)[..., fields])
    np.testing.assert_array_equal(by_arrow.bodies[body_id].joints,
                                  by_numpy.bodies[body_id].joints)
