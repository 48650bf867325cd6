"""MCSS: the body frame and the choice of clips with 3D, the multi-view and lifting losses
against NumPy, restore of the 3D head, the commands (train, evaluate_lifting)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import procrustes
from poem_cvmim.core import random_keys
from poem_cvmim.representation import configs
from poem_cvmim.representation import lifting
from poem_cvmim.representation import pipeline
from poem_cvmim.representation import restore
from poem_cvmim.representation import trainer as trainer_lib
from poem_cvmim.representation.algorithms import base
from poem_cvmim.representation.algorithms import registry
from tests import test_restore

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PROFILE = keypoints.LEGACY_3DH36M17
_NAMES = keypoints.get_profile(_PROFILE).keypoint_names


def _random_rotation(rng):
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  return q * np.linalg.det(q)  # a proper rotation


def _poses(rng, n):
  poses = rng.normal(scale=0.4, size=(n, 17, 3))
  normalized, _, _ = keypoints.get_profile(_PROFILE).normalize(poses)
  return normalized


def _numpy_body_frame(pose):
  joint = lambda name: pose[_NAMES.index(name)]
  x = joint('LHip') - joint('RHip')
  x /= np.linalg.norm(x)
  up = (joint('LShoulder') + joint('RShoulder')) / 2 - (joint('LHip') + joint('RHip')) / 2
  y = up - np.dot(up, x) * x
  y /= np.linalg.norm(y)
  z = np.cross(x, y)
  return pose @ np.stack([x, y, z]).T


def test_the_body_frame_is_the_numpy_construction_and_forgets_the_world_rotation():
  rng = np.random.default_rng(0)
  poses = _poses(rng, 5)
  framed = lifting.body_frame(tf.constant(poses), _PROFILE).numpy()
  np.testing.assert_allclose(framed, [_numpy_body_frame(p) for p in poses], atol=1e-12)
  rotated = np.stack([p @ _random_rotation(rng).T for p in poses])
  np.testing.assert_allclose(lifting.body_frame(tf.constant(rotated), _PROFILE).numpy(), framed,
                             atol=1e-12)
  # A rotation, not a distortion: distances between joints are kept.
  np.testing.assert_allclose(np.linalg.norm(framed[:, 3] - framed[:, 9], axis=-1),
                             np.linalg.norm(poses[:, 3] - poses[:, 9], axis=-1), atol=1e-12)
  with pytest.raises(errors.InputError, match="No body frame for 3D profile 'LEGACY_2DCOCO13'"):
    lifting.body_frame(tf.constant(poses), keypoints.LEGACY_2DCOCO13)


def test_the_clips_that_keep_3d_are_a_fixed_nested_choice_of_the_asked_fraction():
  clips = tf.constant(np.random.default_rng(1).integers(-2**62, 2**62, 20000), tf.int64)
  kept = {f: lifting.keeps_3d(clips, f).numpy() for f in (0.01, 0.1, 1.0)}
  assert kept[1.0].all()
  assert abs(kept[0.1].mean() - 0.1) < 0.01 and abs(kept[0.01].mean() - 0.01) < 0.003
  assert not np.any(kept[0.01] & ~kept[0.1])  # 1 % of the clips are among the 10 %
  np.testing.assert_array_equal(lifting.keeps_3d(clips, 0.1).numpy(), kept[0.1])
  assert lifting.has_3d(tf.zeros([2, 17, 3])).numpy().tolist() == [False, False]
  assert lifting.has_3d(tf.constant(_poses(np.random.default_rng(2), 2))).numpy().all()


def _batch(rng, clips, frames, cameras, with_3d=True):
  """Model inputs of rows (clip, frame, cameras) with random 2D and 3D poses."""
  b = len(clips)
  anchor, positive = rng.normal(scale=0.3, size=(2, b, 13, 2))
  poses_3d = np.stack([_poses(rng, b)] * 2, axis=1)
  if not with_3d:
    poses_3d[:] = 0.0
  return base.pair_inputs(
      tf.constant(anchor), tf.constant(positive),
      **{pipeline.POSES_3D: tf.constant(poses_3d), pipeline.CLIPS: tf.constant(clips, tf.int64),
         pipeline.FRAMES: tf.constant(frames, tf.int64),
         pipeline.CAMERAS: tf.constant(cameras, tf.int64)})


def _numpy_semi_hard(anchors, positives, negatives, margin):
  """FaceNet's semi-hard triplets, one anchor at a time: mean over active triplets."""
  losses = []
  for i in range(len(anchors)):
    positive = np.linalg.norm(anchors[i] - positives[i])
    candidates = [np.linalg.norm(anchors[i] - anchors[j]) for j in range(len(anchors))
                  if negatives[i, j]]
    farther = [d for d in candidates if d > positive]
    losses.append(max(0.0, positive + margin - min(farther)) if farther else 0.0)
  losses = np.array(losses)
  return losses.sum() / max(np.count_nonzero(losses), 1)


def test_the_multiview_loss_is_semi_hard_triplets_over_the_clips_far_frames(float64):
  rng = np.random.default_rng(3)
  config = configs.algorithm_config(algorithm='MCSS', negative_gap=8, ignore_gap=4,
                                   periodic_guard_2d=1e-9)
  algorithm = registry.create_algorithm(config)
  # Two clips: frames 0, 8, 20 of clip 5 and 0, 3, 30 of clip 6 (3 is too close to 0).
  clips, frames = [5, 5, 5, 6, 6, 6], [0, 8, 20, 0, 3, 30]
  inputs = _batch(rng, clips, frames, [[1, 2]] * 6)
  z = rng.normal(size=(2, 6, 8))
  z /= np.linalg.norm(z, axis=-1, keepdims=True)
  terms = algorithm._multiview_loss(inputs, tf.constant(z[0]), tf.constant(z[1]))
  far = np.array([[c == d and abs(f - g) >= 8 for d, g in zip(clips, frames)]
                  for c, f in zip(clips, frames)])
  anchors, positives = np.concatenate([z[0], z[1]]), np.concatenate([z[1], z[0]])
  expected = _numpy_semi_hard(anchors, positives, np.tile(far, [2, 2]), config.mcss.mcss_margin)
  np.testing.assert_allclose(terms['loss'].numpy(), expected, rtol=1e-10)
  # Rows 3 and 4 (frames 0 and 3 of clip 6) have each one far frame: every anchor has one.
  assert terms['anchors_with_negatives'].numpy() == 1.0


def test_the_lifting_loss_reads_only_the_clips_that_keep_their_3d(float64):
  rng = np.random.default_rng(4)
  clips = np.random.default_rng(5).integers(-2**62, 2**62, 40)
  config = configs.algorithm_config(algorithm='MCSS', fraction_with_3d=0.5, dropout_rate=0.0)
  algorithm = registry.create_algorithm(config)
  algorithm.build()
  inputs = _batch(rng, clips, np.zeros(40), np.zeros((40, 2)))
  embeddings = tf.math.l2_normalize(tf.constant(rng.normal(size=(80, 32))), axis=-1)
  loss, covered = algorithm._lifting_loss(inputs, embeddings)
  keep = lifting.keeps_3d(tf.constant(clips, tf.int64), 0.5).numpy()
  assert 0 < keep.sum() < 40 and covered.numpy() == pytest.approx(keep.mean())
  key = random_keys.derive(algorithm.step_key(base.PURPOSE_DROPOUT), 4)  # as the loss's
  predicted = algorithm.head(embeddings, training=True, seed=key)[0].numpy()
  poses_3d = inputs[pipeline.POSES_3D].numpy()
  targets = np.concatenate([poses_3d[:, 0], poses_3d[:, 1]])
  errors_ = [np.mean(np.linalg.norm(predicted[i] - _numpy_body_frame(targets[i]), axis=-1))
             for i in range(80) if np.tile(keep, 2)[i]]
  np.testing.assert_allclose(loss.numpy(), np.mean(errors_), rtol=1e-9)
  # The 3D of a clip without it changes nothing, and zeros (no 3D) give no NaN gradient.
  poses_3d[~keep] = 0.0
  inputs[pipeline.POSES_3D] = tf.constant(poses_3d)
  with tf.GradientTape() as tape:
    again, _ = algorithm._lifting_loss(inputs, embeddings)
  gradients = tape.gradient(again, algorithm.head.trainable_variables)
  np.testing.assert_allclose(again.numpy(), loss.numpy(), rtol=1e-12)
  assert all(np.all(np.isfinite(g.numpy())) for g in gradients)


def _trained_mcss(steps=2):
  config = configs.AlgorithmConfig(algorithm='MCSS')
  algorithm = registry.create_algorithm(config)
  algorithm.build()
  rng = np.random.default_rng(0)
  for _ in range(steps):
    inputs = _batch(rng, np.repeat([1, 2, 3, 4], 4), np.tile([0, 10, 20, 30], 4),
                    np.tile([[1, 2]], (16, 1)))
    inputs = {k: tf.cast(v, tf.float32) if v.dtype == tf.float64 else v
              for k, v in inputs.items()}
    algorithm.update(inputs)
  return config, algorithm


def test_the_checkpoint_holds_the_encoder_and_the_3d_head(tmp_path):
  config, trained = _trained_mcss()
  saved = test_restore._variables_by_path(trained.networks())
  assert any(path.startswith('head:') for path in saved)
  path = tf.train.Checkpoint(**trained.checkpoint_items()).write(str(tmp_path / 'ckpt'))
  fresh = registry.create_algorithm(config)
  fresh.build()
  tf.train.Checkpoint(**fresh.checkpoint_items()).read(path).assert_consumed()
  restored = test_restore._variables_by_path(fresh.networks())
  assert [p for p in saved if not np.array_equal(saved[p], restored[p])] == []
  poses = tf.constant(np.random.default_rng(1).normal(scale=0.3, size=(8, 13, 2)), tf.float32)
  np.testing.assert_array_equal(fresh.lift(poses).numpy(), trained.lift(poses).numpy())
  z_p, z_v = fresh.embed(poses)
  np.testing.assert_allclose(np.linalg.norm(z_p.numpy(), axis=-1), 1.0, rtol=1e-5)
  assert z_v.shape == (8, 0)


def test_mcss_needs_clip_batches():
  with pytest.raises(errors.InputError, match='MCSS needs clip-grouped batches'):
    configs.TrainConfig(algorithm=configs.AlgorithmConfig(algorithm='MCSS'))
  with pytest.raises(errors.InputError, match=r'fraction_with_3d must be in \(0, 1\]'):
    configs.algorithm_config(algorithm='MCSS', fraction_with_3d=0.0)


def _command(module, *flags):
  result = subprocess.run([sys.executable, '-m', module, *flags], cwd=_ROOT,
                          capture_output=True, text=True, timeout=600)
  return result


def test_train_then_evaluate_lifting_from_the_commands(smoke_dir, tmp_path):
  run = str(tmp_path / 'mcss')
  trained = _command('poem_cvmim.train', '--smoke', '--algorithm_type=MCSS',
                     f'--input_table={os.path.join(smoke_dir, "pairs", "train-*")}',
                     f'--log_dir_path={run}', '--num_iterations=4', '--negative_gap=16',
                     '--instants_per_clip=4', '--fraction_with_3d=0.5', '--seed=1')
  assert trained.returncode == 0, trained.stderr[-3000:]
  config = restore.read_config(run)
  # The command's MCSS defaults: detected 2D only (no projections of the 3D), clip batches.
  assert config.input_type == configs.INPUT_2D and config.instants_per_clip == 4
  assert config.algorithm.mcss.fraction_with_3d == 0.5
  output = str(tmp_path / 'lifting')
  evaluated = _command('poem_cvmim.evaluate_lifting', f'--runs={run}',
                       f'--sequences={os.path.join(smoke_dir, "heldout_motion")}',
                       '--frame_stride=8', f'--output_dir={output}')
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  with open(os.path.join(output, 'lifting.json')) as f:
    result = json.load(f)[run]
  assert sorted(result['views']) == sorted(
      json.load(open(os.path.join(smoke_dir, 'heldout_motion', 'manifest.json')))['views'])
  mean = np.mean([v['pa_mpjpe'] for v in result['views'].values()])
  assert result['mean']['pa_mpjpe'] == pytest.approx(mean)
  # The aligned error never exceeds the unaligned one (alignment can only help).
  assert all(v['pa_mpjpe'] <= v['mpjpe'] + 1e-9 for v in result['views'].values())
  assert f'| {run} | mean |' in evaluated.stdout

  # A run without a 3D head is refused, naming it (in process: the command's one line is
  # cli.guarded's rendering of this InputError).
  from poem_cvmim import evaluate_lifting  # pylint: disable=g-import-not-at-top
  other = str(tmp_path / 'cvmim')
  trainer_lib.Trainer(configs.smoke_config(input_table=os.path.join(smoke_dir, 'pairs', 'train-*'),
                                    output_dir=other, num_steps=1), log=lambda _: None).train()
  with pytest.raises(errors.InputError) as refused:
    evaluate_lifting.load_lifter(other)
  assert str(refused.value) == (
      f'{other}: a DISENTANGLE run has no 3D head (train with --algorithm_type=MCSS).')


def test_the_aligned_error_of_the_evaluation_is_procrustes_mpjpe():
  from poem_cvmim.evaluation import lifting as evaluation  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(6)
  truth = _poses(rng, 6)
  rotation = _random_rotation(rng)
  # A "head" that returns the truth rotated and scaled: MPJPE > 0, aligned MPJPE 0.
  framed = np.stack([_numpy_body_frame(p) for p in truth])
  lift = lambda x: tf.constant(1.3 * framed[:len(x)] @ rotation.T)
  result = evaluation.lifting_errors(lift, np.zeros((6, 13, 2)), truth)
  assert np.all(result['mpjpe'] > 0.01)
  np.testing.assert_allclose(result['pa_mpjpe'], 0.0, atol=1e-9)
  exact = evaluation.lifting_errors(lambda x: tf.constant(framed), np.zeros((6, 13, 2)), truth)
  np.testing.assert_allclose(exact['mpjpe'], 0.0, atol=1e-12)
  np.testing.assert_allclose(
      result['pa_mpjpe'], procrustes.procrustes_aligned_mpjpe(
          tf.constant(framed), tf.constant(1.3 * framed @ rotation.T)).numpy(), atol=1e-9)
