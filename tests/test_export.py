"""Export: the SavedModel loads with plain TensorFlow and embeds like the in-memory encoder."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.representation.algorithms import base
from poem_cvmim.representation.algorithms import registry
from poem_cvmim.representation import configs
from poem_cvmim.evaluation import pose_files
from poem_cvmim.representation import export
from poem_cvmim.evaluation import embedders
from poem_cvmim.core import keypoints

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PLAIN_TF = textwrap.dedent('''
    import sys
    import numpy as np
    import tensorflow as tf
    assert not any('poem_cvmim' in name for name in sys.modules)
    model = tf.saved_model.load(sys.argv[1])
    points = np.load(sys.argv[2])
    sizes = np.tile([[480.0, 640.0]], (len(points), 1)).astype(np.float32)
    served = model.signatures['serving_default'](keypoints=points, image_sizes=sizes)
    direct = model.signatures['embed_normalized'](keypoints=np.load(sys.argv[3]))
    np.save(sys.argv[4], np.concatenate([served['pose_embedding'], served['view_embedding'],
                                         direct['pose_embedding']], axis=-1))
''')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  directory = tmp_path_factory.mktemp('export')
  algorithm = registry.create_algorithm(configs.AlgorithmConfig(pose_embedding_dim=8,
                                                                  view_embedding_dim=8))
  algorithm.build()
  algorithm.update(base.pair_inputs(tf.random.normal([16, 13, 2]), tf.random.normal([16, 13, 2])))
  export.export_encoder(algorithm, keypoints.LEGACY_2DCOCO13, str(directory / 'model'))
  return algorithm, directory


def test_saved_model_in_a_fresh_process_matches_the_encoder(exported, tmp_path):
  algorithm, directory = exported
  rng = np.random.default_rng(0)
  points = rng.uniform(0.2, 0.8, size=(5, 13, 2)).astype(np.float32)  # normalised by image
  profile = keypoints.get_profile(keypoints.LEGACY_2DCOCO13)
  normalized, _, _ = profile.normalize(points * np.array([480.0, 640.0], np.float32))
  np.save(tmp_path / 'points.npy', points)
  np.save(tmp_path / 'normalized.npy', normalized.astype(np.float32))
  result = subprocess.run(
      [sys.executable, '-c', _PLAIN_TF, str(directory / 'model'), str(tmp_path / 'points.npy'),
       str(tmp_path / 'normalized.npy'), str(tmp_path / 'out.npy')],
      cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=''))
  assert result.returncode == 0, result.stderr[-2000:]
  out = np.load(tmp_path / 'out.npy')
  pose, view = algorithm.embed(tf.constant(normalized, tf.float32))
  np.testing.assert_allclose(out[:, :8], pose.numpy(), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out[:, 8:16], view.numpy(), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out[:, 16:], pose.numpy(), rtol=1e-4, atol=1e-5)


def test_embed_command_reads_csv_and_writes_csv(exported, tmp_path):
  algorithm, directory = exported
  points = np.random.default_rng(1).uniform(100, 500, size=(3, 13, 2)).astype(np.float32)
  with open(tmp_path / 'poses.csv', 'w') as f:
    f.write(','.join(f'{c}{j}' for j in range(13) for c in 'yx') + '\n')
    for row in points.reshape(3, -1):
      f.write(','.join(f'{v:.6f}' for v in row) + '\n')
  result = subprocess.run(
      [sys.executable, '-m', 'poem_cvmim.embed', f'--saved_model={directory / "model"}',
       f'--input={tmp_path / "poses.csv"}', f'--output={tmp_path / "emb.csv"}'],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  written = np.loadtxt(tmp_path / 'emb.csv', delimiter=',', skiprows=1)
  normalized, _, _ = keypoints.get_profile('LEGACY_2DCOCO13').normalize(points)
  pose, view = algorithm.embed(tf.constant(normalized))
  np.testing.assert_allclose(written, np.concatenate([pose, view], -1), rtol=1e-4, atol=1e-5)


def test_saved_model_serves_as_a_feature_embedder(exported):
  algorithm, directory = exported
  embedder = embedders.load_embedder(str(directory / 'model'))
  assert embedder.dim == 8
  poses = tf.random.normal([4, 13, 2])
  np.testing.assert_allclose(embedder.fn(poses).numpy(), algorithm.embed(poses)[0].numpy(),
                             rtol=1e-4, atol=1e-5)


def test_embed_input_errors_name_file_and_row(tmp_path):
  bad = tmp_path / 'bad.csv'
  bad.write_text('header\n' + ','.join(['1'] * 26) + '\n1,2,3\n')
  with pytest.raises(ValueError, match=r'bad.csv:3: 3 values, expected 26'):
    pose_files.read_keypoints(str(bad))
  np.save(tmp_path / 'wrong.npy', np.zeros((2, 17, 2)))
  with pytest.raises(ValueError, match=r'shape \(2, 17, 2\)'):
    pose_files.read_keypoints(str(tmp_path / 'wrong.npy'))


def test_embed_command_reads_openpose_output(exported, tmp_path):
  from tests import test_detections  # pylint: disable=g-import-not-at-top
  from poem_cvmim.core import detections  # pylint: disable=g-import-not-at-top
  algorithm, directory = exported
  folder = tmp_path / 'cam'
  folder.mkdir()
  for frame in (4, 2):
    values = test_detections._layout_values(detections.BODY25, 10 * frame)
    with open(folder / f'v_{frame:012d}_keypoints.json', 'w') as f:
      f.write(json.dumps({'people': [{'pose_keypoints_2d': values}]}))
  result = subprocess.run(
      [sys.executable, '-m', 'poem_cvmim.embed', f'--saved_model={directory / "model"}',
       f'--input={folder}', f'--output={tmp_path / "emb.csv"}'],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  written = np.loadtxt(tmp_path / 'emb.csv', delimiter=',', skiprows=1)
  assert written[:, 0].tolist() == [2, 4]  # frame order
  track = detections.read_track(str(folder))
  normalized = detections.normalize(detections.fill_missing(track)[0])
  pose, view = algorithm.embed(tf.constant(normalized))
  np.testing.assert_allclose(written[:, 1:], np.concatenate([pose, view], -1), rtol=1e-4,
                             atol=1e-5)
