"""The synthetic multi-view set: determinism, contents, errors, and the view gap it exists for."""

import dataclasses
import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data_prep import synthetic_dataset as synthetic
from data_prep import synthetic_motion
from data_prep import synthetic_views
from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_same_seed_same_bytes_other_seed_other_bytes(smoke_dir, tmp_path):
  again = synthetic.generate(synthetic.smoke_config(), str(tmp_path / 'a'), log=lambda _: None)
  other = synthetic.generate(synthetic.smoke_config(seed=1), str(tmp_path / 'b'),
                             log=lambda _: None)
  for part, manifest in again.items():
    first = shards.read_manifest(os.path.join(smoke_dir, part))
    assert manifest['shards'] == first['shards'], part
    assert manifest['shards'] != other[part]['shards'], part
    for name, digest in first['shards'].items():
      assert shards.file_sha256(os.path.join(smoke_dir, part, name)) == digest


def test_contents_match_the_manifests(smoke_dir):
  config = synthetic.smoke_config()
  penn = shards.read_manifest(os.path.join(smoke_dir, 'penn_like'))
  # 2 train subjects x 4 classes x 2 clips, each seen from 4 views.
  assert penn['splits']['train']['num_records'] == 2 * 4 * 2 * 4
  assert penn['splits']['test']['views'] == {v: 4 * 2 for v in ('back', 'front', 'left',
                                                                 'right')}
  assert penn['classes'] == list(synthetic_motion.ACTION_NAMES[:4])
  ntu = shards.read_manifest(os.path.join(smoke_dir, 'ntu_like'))
  assert ntu['views'] == ['C1R1', 'C1R2', 'C2R1', 'C2R2', 'C3R1', 'C3R2']
  assert set(ntu['splits']['train']['views'].values()) == {2 * 4 * 1}
  files = sorted(glob.glob(shards.shard_pattern(os.path.join(smoke_dir, 'penn_like'), 'test',
                                                'left')))
  batch = next(iter(tf.data.TFRecordDataset(files).batch(100)))
  parsed = records.parse_sequence_example(batch, config.sequence_length, config.num_classes)
  assert parsed['keypoints_2d'].shape == (8, 160, 13, 2)
  assert set(parsed['view'].numpy()) == {b'left'} and set(parsed['subject'].numpy()) == {b'S03'}
  lengths = parsed['num_frames'].numpy()
  assert np.all((lengths >= 60) & (lengths <= 160))
  # Replayed from the start after the true length.
  points = parsed['keypoints_2d'].numpy()
  np.testing.assert_array_equal(points[0, lengths[0]], points[0, 0])
  np.testing.assert_array_equal(parsed['class_targets'].numpy().sum(-1), 1)
  pairs = glob.glob(shards.shard_pattern(os.path.join(smoke_dir, 'pairs'), 'train'))
  pair = records.parse_pair_example(next(iter(tf.data.TFRecordDataset(pairs).batch(5))))
  assert pair['keypoints_3d'].shape == (5, 2, 17, 3)
  np.testing.assert_array_equal(pair['keypoints_3d'][:, 0], pair['keypoints_3d'][:, 1])
  assert not np.allclose(pair['keypoints_2d'][:, 0], pair['keypoints_2d'][:, 1])


def test_broad_prior_and_retrieval_parts(smoke_dir):
  config = synthetic.smoke_config()
  rng = np.random.default_rng(0)
  angles = synthetic_motion.broad_angles(4000, rng)
  for name, (low, high) in synthetic_motion.RANGE_OF_MOTION_DEG.items():
    degrees = np.degrees(angles[name])
    assert low - 1e-9 <= degrees.min() and degrees.max() <= high + 1e-9, name
    # Every angle visits most of its range, smoothly (no jump between frames).
    assert degrees.max() - degrees.min() > 0.8 * (high - low), name
    assert np.abs(np.diff(degrees)).max() < (high - low) * np.pi / 2 / 12 + 1e-6, name
  # The pair records hold the broad clips (source S.._B_...) beside the class programs'.
  pairs = glob.glob(shards.shard_pattern(os.path.join(smoke_dir, 'pairs'), 'train'))
  sources = set()
  for serialized in tf.data.TFRecordDataset(pairs):
    example = tf.train.Example.FromString(serialized.numpy())
    sources.add(example.features.feature['image/source_id'].bytes_list.value[0].decode())
  broad = {s for s in sources if '_B_' in s}
  assert len(broad) == 2 * config.broad_clips_per_subject  # two training subjects
  assert not any('_H' in s for s in sources)  # held-out families never train an encoder
  # Retrieval parts: test subjects only, four fixed relative cameras, 3D poses.
  for part, classes in ((synthetic.HELDOUT_DIR, list(synthetic_motion.HELDOUT_NAMES)),
                        (synthetic.BROAD_DIR, ['broad'])):
    manifest = shards.read_manifest(os.path.join(smoke_dir, part))
    assert manifest['classes'] == classes and list(manifest['splits']) == ['test']
    assert manifest['views'] == list(synthetic.RETRIEVAL_VIEWS)
    assert set(manifest['splits']['test']['views'].values()) == {
        len(synthetic_motion.HELDOUT_ACTIONS) * config.retrieval_clips_per_family}
  from poem_cvmim.evaluation import frame_sources
  from poem_cvmim.evaluation import retrieval
  frames = frame_sources.load_multiview_frames(os.path.join(smoke_dir, synthetic.HELDOUT_DIR),
                                               'test', with_3d=True)
  views = list(frames)
  # The same instant seen by two cameras: the same 3D pose, different 2D.
  np.testing.assert_array_equal(frames[views[0]].poses_3d, frames[views[1]].poses_3d)
  assert not np.allclose(frames[views[0]].poses, frames[views[1]].poses)
  assert retrieval.aligned_mpjpe(frames[views[0]].poses_3d[:5],
                                 frames[views[1]].poses_3d[:5]).max() < 1e-6
  with pytest.raises(ValueError, match="lacks 51 required keys.*pose criterion"):
    frame_sources.load_multiview_frames(os.path.join(smoke_dir, 'penn_like'), 'test',
                                    with_3d=True)


def test_detections_lie_in_the_image_and_match_the_3d():
  rng = np.random.default_rng(0)
  bones = synthetic_motion.subject_bones(rng)
  programs = ([(label, synthetic_motion.ACTIONS) for label in range(len(synthetic_motion.ACTIONS))]
              + [(label, synthetic_motion.HELDOUT_ACTIONS) for label in range(5)])
  for label, family in programs:
    clip = synthetic_motion.sample_clip(0, bones, label, 0.0, rng, family)
    assert clip.joints_xyz.shape[1:] == (17, 3)
    assert clip.joints_xyz[..., 2].min() > -1e-9  # feet on or above the ground
    height = clip.joints_xyz[:, 1, 2] - clip.joints_xyz[:, :, 2].min(axis=1)
    # Upright except squat and bow, toe touch and crouch-reach.
    assert np.all(height > 1.0) or (label in (2, 6) if family is synthetic_motion.ACTIONS
                                    else label in (3, 4))
    camera = synthetic_views.Camera(0.0, 0.0, 4.0)
    points, scores = synthetic_views.detect(clip.joints_xyz, camera, rng)
    assert np.all((points > 0.0) & (points < 1.0))
    assert 0.0 < (scores == 0).mean() < 0.1
  # Facing the camera, the subject's left shoulder appears on the image's right.
  left, right = points[:, 1, 1], points[:, 2, 1]
  assert np.mean(left > right) > 0.9


@pytest.mark.parametrize('flag,message', [('--num_subjects=0', 'num_subjects'),
                                          ('--num_classes=40', 'num_classes'),
                                          ('--view_sets=kinect', 'view_sets')])
def test_bad_flags_are_refused(tmp_path, flag, message):
  result = subprocess.run(
      [sys.executable, '-m', 'data_prep.synthetic', f'--output_dir={tmp_path}', flag],
      cwd=_ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert message in result.stderr
  assert not glob.glob(f'{tmp_path}/**/*.tfrecord', recursive=True)


def test_config_validation_names_values():
  with pytest.raises(ValueError, match='got 0'):
    synthetic.SyntheticConfig(num_subjects=0)
  with pytest.raises(ValueError, match='num_test_subjects'):
    synthetic.SyntheticConfig(num_subjects=3, num_test_subjects=3)
  assert dataclasses.replace(synthetic.SyntheticConfig(), seed=3).seed == 3


def _clip_features(directory, split, view, config):
  """Per-clip mean, spread and speed of the normalised 2D pose: a simple view-bound feature."""
  profile = keypoints.get_profile(keypoints.LEGACY_2DCOCO13)
  files = sorted(glob.glob(shards.shard_pattern(directory, split, view)))
  features, labels = [], []
  for batch in tf.data.TFRecordDataset(files).batch(256):
    parsed = records.parse_sequence_example(batch, config.sequence_length, config.num_classes)
    pixels = parsed['keypoints_2d'].numpy() * parsed['image_sizes'].numpy()[:, :, None, :]
    normalized, _, _ = profile.normalize(pixels)
    for clip, length in zip(normalized, parsed['num_frames'].numpy()):
      x = clip[:length].reshape(length, -1)
      features.append(np.concatenate([x.mean(0), x.std(0), np.abs(np.diff(x, axis=0)).mean(0)]))
    labels.append(parsed['class_targets'].numpy().argmax(-1))
  return np.array(features), np.concatenate(labels)


def _ridge_classifier(features, labels, num_classes, penalty=1.0):
  mean, std = features.mean(0), features.std(0) + 1e-6
  design = np.c_[(features - mean) / std, np.ones(len(features))]
  targets = 2.0 * np.eye(num_classes)[labels] - 1.0
  weights = np.linalg.solve(design.T @ design + penalty * np.eye(design.shape[1]),
                            design.T @ targets)
  return lambda x: np.argmax(np.c_[(x - mean) / std, np.ones(len(x))] @ weights, axis=-1)


def test_raw_keypoint_classifier_loses_accuracy_off_its_training_view(tmp_path):
  config = synthetic.SyntheticConfig(num_subjects=4, num_test_subjects=1, num_classes=8,
                                     clips_per_class=4, view_sets=('penn_like',),
                                     pair_frame_stride=40)
  synthetic.generate(config, str(tmp_path), log=lambda _: None)
  directory = str(tmp_path / 'penn_like')
  classify = _ridge_classifier(*_clip_features(directory, 'train', 'front', config),
                               config.num_classes)
  accuracy = {}
  for view in ('front', 'back', 'left', 'right'):
    features, labels = _clip_features(directory, 'test', view, config)
    accuracy[view] = float(np.mean(classify(features) == labels))
  print('raw-keypoint classifier trained on front, test accuracy per view:', accuracy)
  assert accuracy['front'] >= 0.8
  for view in ('back', 'left', 'right'):
    assert accuracy[view] <= accuracy['front'] - 0.25, accuracy
