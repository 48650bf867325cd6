"""Pr-VIPE: the original's published golden values (poem/core keypoint_utils_test,
distance_utils_test, loss_utils_test), NumPy formulas, invariances, and the algorithm's step."""

import glob
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.core import feature_tables
from poem_cvmim.core import procrustes
from poem_cvmim.core import records
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import features
from poem_cvmim.representation import configs
from poem_cvmim.representation import restore
from poem_cvmim.representation import trainer as trainer_lib
from poem_cvmim.representation import triplet_losses as tl
from poem_cvmim.representation.algorithms import base
from poem_cvmim.representation.algorithms import registry

_MAX = np.finfo(np.float32).max


# -- Procrustes (keypoint_utils_test) -------------------------------------------------------
_TARGET = [[1.0, 1.0, 0.0], [5.0, 2.0, 2.0], [4.0, 0.0, 0.0], [-1.0, -2.0, 3.0]]


def test_alignment_parameters_golden():
  target = tf.constant([_TARGET,
                        [[1.0, 0.0, 1.0], [5.0, 2.0, 2.0], [4.0, 0.0, 0.0], [-1.0, 3.0, -2.0]],
                        [[2.0, 0.0, 2.0], [10.0, 4.0, 4.0], [8.0, 0.0, 0.0], [-2.0, 6.0, -4.0]]])
  source = tf.constant([[[3.0, 1.0, 5.0], [-2.0, 3.0, 0.0], [1.0, -1.0, 1.0], [8.0, 3.0, -2.0]],
                        [[3.0, 5.0, 1.0], [-2.0, 0.0, 3.0], [1.0, 1.0, -1.0], [8.0, -2.0, 3.0]],
                        [[6.0, 10.0, 2.0], [-4.0, 0.0, 6.0], [2.0, 2.0, -2.0],
                         [16.0, -4.0, 6.0]]])
  rotations, scales, translations = procrustes.alignment(target, source)
  first = [[-0.87982, -0.47514731, 0.01232074], [-0.31623112, 0.60451691, 0.73113418],
           [-0.35484453, 0.63937027, -0.68212243]]
  other = [[-0.87982, 0.01232074, -0.47514731], [-0.35484453, -0.68212243, 0.63937027],
           [-0.31623112, 0.73113418, 0.60451691]]
  np.testing.assert_allclose(rotations, [first, other, other], atol=1e-5)
  np.testing.assert_allclose(scales, [[[0.63716284347]]] * 3, rtol=1e-5)
  np.testing.assert_allclose(translations, [[[4.17980137, 0.02171898, 0.96621997]],
                                            [[4.17980137, 0.96621997, 0.02171898]],
                                            [[8.35960274, 1.93243994, 0.04343796]]],
                             rtol=1e-6, atol=1e-6)  # tf.test's assertAllClose, as the original


def test_standardize_and_mpjpe_golden():
  x = tf.constant([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[2.0, 4.0], [6.0, 8.0], [10.0, 12.0]]])
  standardized, offsets, scales = procrustes.standardize(x)
  np.testing.assert_allclose(standardized, [[[-0.5, -0.5], [0.0, 0.0], [0.5, 0.5]]] * 2)
  np.testing.assert_allclose(offsets, [[[3.0, 4.0]], [[6.0, 8.0]]])
  np.testing.assert_allclose(scales, [[[4.0]], [[8.0]]])
  lhs = tf.constant([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[7.0, 8.0], [9.0, 10.0], [11.0, 12.0]]])
  np.testing.assert_allclose(procrustes.mpjpe(lhs, lhs + 1.0), [1.41421356237] * 2, rtol=1e-6)
  assert procrustes.mpjpe(tf.constant([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]]),
                          tf.constant([[1.0, 0.0, 2.0], [2.0, -1.0, 3.0]])).numpy() == (
                              pytest.approx(2.76866, abs=1e-5))


@pytest.mark.parametrize('target,source,expected', [
    ([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
     [[2.0, 2.0, 2.0], [-1.5, -1.0, 0.0], [2.5, 1.3, 1.4]], 0.133016),
    ([[2.0, 2.0, 2.0], [-1.5, -1.0, 0.0], [2.5, 1.3, 1.4]],
     [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], 0.3496029),
    (_TARGET, _TARGET, 0.0),
    (_TARGET, [[1.5, 0.5, 0.0], [5.0, 2.0, 2.2], [4.1, 0.0, -1.0], [-1.0, -2.5, -2.0]], 1.00227),
    (_TARGET, [[-10.0, -24.5, -49.5], [-9.0, -22.5, -49.0], [-10.0, -23.0, -50.0],
               [-8.5, -25.5, -51.0]], 0.0),
], ids=['case5', 'case6', 'case2', 'case3', 'case4'])
def test_procrustes_aligned_mpjpe_golden(target, source, expected):
  value = procrustes.procrustes_aligned_mpjpe(tf.constant(target), tf.constant(source))
  assert value.numpy() == pytest.approx(expected, abs=1e-5)


def _rotation(rng):
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  return q if np.linalg.det(q) > 0 else -q


def test_procrustes_mpjpe_is_invariant_to_similarity_and_refuses_reflection():
  rng = np.random.default_rng(0)
  target = rng.normal(size=(17, 3))
  source = target + rng.normal(scale=0.05, size=(17, 3))
  base = procrustes.procrustes_aligned_mpjpe(target, source).numpy()
  assert base > 0.01
  for _ in range(5):
    moved = 3.7 * source @ _rotation(rng) + rng.normal(size=3)
    assert procrustes.procrustes_aligned_mpjpe(target, moved).numpy() == pytest.approx(
        base, rel=1e-9)
  # A mirror image is not a rotation: it does not align back (with reflections it would).
  mirrored = target * np.array([1.0, 1.0, -1.0])
  assert procrustes.procrustes_aligned_mpjpe(target, mirrored).numpy() > 0.1
  pairwise = procrustes.pairwise_procrustes_aligned_mpjpe(np.stack([target, source]),
                                                          np.stack([source, target, mirrored]))
  np.testing.assert_allclose([pairwise[0, 1], pairwise[1, 0]], 0.0, atol=1e-9)
  assert pairwise.numpy()[0, 0] == pytest.approx(base)
  assert pairwise.numpy()[0, 2] == pytest.approx(
      procrustes.procrustes_aligned_mpjpe(target, mirrored).numpy())


# -- Matching probability and KL (distance_utils_test, loss_utils_test) -----------------------
_RAW_A_GOLDEN = -4.60517018599  # ln 0.01: a = ELU(raw_a) + 1 = 0.01


def test_sigmoid_matching_probability_and_distance_golden():
  distances = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
  p = tl.sigmoid_matching_probability(distances, _RAW_A_GOLDEN, 1.0)
  np.testing.assert_allclose(p, [[0.70617913, 0.704397395, 0.702607548],
                                 [0.700809625, 0.69900366, 0.697189692]], rtol=1e-6)
  np.testing.assert_allclose(-np.log(p), [[0.347886348, 0.350412601, 0.352956796],
                                          [0.355519006, 0.3580993, 0.360697751]], rtol=1e-5)


def test_gaussian_kl_divergence_golden():
  assert tl.gaussian_kl_divergence([0.0], [1.0]).numpy() == pytest.approx(0.0)
  np.testing.assert_allclose(tl.gaussian_kl_divergence(tf.zeros([2, 3]), tf.ones([2, 3])), 0.0)
  lhs_means = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
  lhs_stddevs = tf.constant([[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]])
  np.testing.assert_allclose(
      tl.gaussian_kl_divergence(lhs_means, lhs_stddevs, lhs_stddevs, lhs_means),
      [31.198712171, 2.429343385], rtol=1e-6)
  # compute_kl_regularization_loss: mean over embeddings against N(0, I) 40.710374394.
  assert tf.reduce_mean(tl.gaussian_kl_divergence(lhs_means, lhs_stddevs)).numpy() == (
      pytest.approx(40.710374394, rel=1e-6))


def _np_matching_distance(lhs, rhs, raw_a, b, smoothing=0.1):
  a = (np.exp(raw_a) - 1.0 if raw_a < 0 else raw_a) + 1.0
  d = np.linalg.norm(lhs[..., :, None, :] - rhs[..., None, :, :], axis=-1)
  p = (1.0 - smoothing) / (1.0 + np.exp(a * d - b)) + smoothing / 2.0
  return -np.log(p.mean(axis=(-2, -1)))


def test_matching_distances_match_numpy():
  rng = np.random.default_rng(0)
  anchors, matches = rng.normal(size=(5, 4, 3)), rng.normal(size=(6, 3, 3))
  expected = _np_matching_distance(anchors[:, None], matches[None], -0.65, -0.5)
  np.testing.assert_allclose(tl.matching_distance_matrix(anchors, matches, -0.65, -0.5),
                             expected, rtol=1e-10)
  np.testing.assert_allclose(tl.matching_distance(anchors[:, None], matches[None], -0.65, -0.5),
                             expected, rtol=1e-10)
  # Identical one-sample embeddings: p = 0.9 sigmoid(b) + 0.05.
  same = tl.matching_distance(anchors[:, :1], anchors[:, :1], -0.65, -0.5).numpy()
  np.testing.assert_allclose(same, -np.log(0.9 / (1 + np.exp(0.5)) + 0.05), rtol=1e-10)


# -- Mining and triplet losses (loss_utils_test) ----------------------------------------------
_MATCH = [[1.0, 3.0, 2.0, 0.0], [6.0, 5.0, 4.0, 0.0], [7.0, 8.0, 9.0, 10.0]]
_NEGATIVE = [[True, True, False, False], [True, True, False, False], [False] * 4]


def test_hard_and_semi_hard_negative_distances_golden():
  hard, mining = tl.hard_negative_distances(tf.constant(_MATCH), tf.constant(_NEGATIVE))
  np.testing.assert_array_equal(hard, [1.0, 5.0, _MAX])
  np.testing.assert_array_equal(mining, [1.0, 5.0, _MAX])
  semi, mining = tl.hard_negative_distances(
      tf.constant(_MATCH), tf.constant(_NEGATIVE), use_semi_hard=True,
      anchor_positive_mining_distances=tf.constant([0.0, 6.5, 10.0]))
  np.testing.assert_array_equal(semi, [1.0, _MAX, _MAX])
  np.testing.assert_array_equal(mining, [1.0, _MAX, _MAX])
  semi, mining = tl.hard_negative_distances(
      tf.constant([[4.0, 3.0, 2.0, 1.0], [8.0, 5.0, 4.0, 0.0], [8.0, 9.0, 7.0, 10.0]]),
      tf.constant([[True] * 4, [True, True, True, False], [False, True, True, True]]),
      use_semi_hard=True, anchor_positive_mining_distances=tf.constant([0.0, 6.5, 2.0]),
      anchor_match_mining_distances=tf.constant(_MATCH))
  np.testing.assert_array_equal(semi, [4.0, _MAX, 9.0])
  np.testing.assert_array_equal(mining, [1.0, _MAX, 8.0])
  with pytest.raises(ValueError, match='anchor_positive_mining_distances'):
    tl.hard_negative_distances(tf.constant(_MATCH), tf.constant(_NEGATIVE), use_semi_hard=True)


_INDICATORS = tf.constant([[True, True, True, True], [True, True, False, True],
                           [True, False, True, False]])
_SQUARED_MATCH = [[2.0, 8.0, 32.0, 72.0], [2.0, 0.0, 8.0, 32.0], [18.0, 8.0, 0.0, 8.0]]


def test_semi_hard_triplet_loss_golden():
  loss, active, negatives = tl.hard_negative_triplet_loss(
      tf.constant([0.0, 8.0, 2.0]), tf.constant(_SQUARED_MATCH), _INDICATORS, margin=20.0)
  assert loss.numpy() == pytest.approx(22.0 / 3.0) and int(active) == 2
  np.testing.assert_allclose(negatives, [2.0, 32.0, 18.0])
  loss, active, negatives = tl.hard_negative_triplet_loss(
      tf.constant([1.0, 2.0, 3.0]),
      tf.constant([[4.0, 3.0, 2.0, 1.0], [8.0, 7.0, 6.0, 5.0], [12.0, 11.0, 10.0, 9.0]]),
      _INDICATORS, margin=5.0, anchor_positive_mining_distances=tf.constant([0.0, 8.0, 2.0]),
      anchor_match_mining_distances=tf.constant(_SQUARED_MATCH))
  assert loss.numpy() == pytest.approx(4.0 / 3.0) and int(active) == 2
  np.testing.assert_allclose(negatives, [4.0, 5.0, 12.0])


def _squared_l2_sum(lhs, rhs):
  """The golden tests' sample distance: [..., C, K, d] x [..., C, L, d] -> squared L2 summed
  over all K x L sample pairs and the C components."""
  return np.square(lhs[..., :, :, None, :] - rhs[..., :, None, :, :]).sum(axis=(-4, -3, -2, -1))


def _embeddings(points, components=1, samples=1):
  """[N, 2] points -> [N, components, samples, 2] (the goldens repeat one point)."""
  points = np.asarray(points, np.float64)[:, None, None, :]
  return np.tile(points, (1, components, samples, 1))


def _check_terms(terms, **expected):
  """Every term of `triplet_terms` equals the original test's summary value."""
  assert {k: pytest.approx(v) for k, v in expected.items()} == {
      k: float(v) for k, v in terms.items()}


def test_triplet_terms_golden():
  # compute_keypoint_triplet_losses with squared L2 of point embeddings, margin 20.
  anchors = _embeddings([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
  positives = _embeddings([[1.0, 2.0], [5.0, 6.0], [6.0, 7.0]])
  matches = _embeddings([[2.0, 3.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
  terms = tl.triplet_terms(_squared_l2_sum(anchors, positives),
                           _squared_l2_sum(anchors[:, None], matches[None]), _INDICATORS, 20.0)
  _check_terms(terms, loss=11.0, positive_distance=10 / 3, hard_negative_distance=2 / 3,
               semi_hard_negative_distance=52 / 3, hard_loss=68 / 3, hard_active_ratio=1.0,
               semi_hard_loss=22 / 3, semi_hard_active_ratio=2 / 3)


def test_triplet_terms_with_mining_distances_golden():
  # ..._with_sample_mining_embeddings: 3 components; the loss's match embeddings have 2
  # samples and differ from the mining embeddings; margin 120.
  anchors = _embeddings([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], 3)
  positives = _embeddings([[2.0, 1.0], [6.0, 5.0], [7.0, 6.0]], 3)
  matches = _embeddings([[3.0, 2.0], [4.0, 3.0], [6.0, 5.0], [8.0, 7.0]], 3, 2)
  mining_positives = _embeddings([[1.0, 2.0], [5.0, 6.0], [6.0, 7.0]], 3)
  mining_matches = _embeddings([[2.0, 3.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], 3)
  terms = tl.triplet_terms(
      _squared_l2_sum(anchors, positives), _squared_l2_sum(anchors[:, None], matches[None]),
      _INDICATORS, 120.0, _squared_l2_sum(anchors, mining_positives),
      _squared_l2_sum(anchors[:, None], mining_matches[None]))
  _check_terms(terms, loss=57.0, positive_distance=48 / 3, hard_negative_distance=48 / 3,
               semi_hard_negative_distance=348 / 3, hard_loss=360 / 3, hard_active_ratio=1.0,
               semi_hard_loss=114 / 3, semi_hard_active_ratio=2 / 3)


def _np_semi_hard_loss(positive, matrix, negative, margin, positive_mining, matrix_mining):
  """Brute force: per anchor, the valid negative with the smallest mining distance above the
  positive's; its loss distance; relu; mean over active triplets."""
  losses = []
  for i in range(len(positive)):
    valid = [j for j in range(matrix.shape[1])
             if negative[i, j] and matrix_mining[i, j] > positive_mining[i]]
    if not valid:
      losses.append(0.0)
      continue
    j = min(valid, key=lambda j: (matrix_mining[i, j], matrix[i, j]))
    losses.append(max(0.0, positive[i] + margin - matrix[i, j]))
  losses = np.array(losses)
  active = np.count_nonzero(losses)
  return losses.sum() / active if active else 0.0, active


def test_triplet_loss_matches_brute_force():
  rng = np.random.default_rng(1)
  for _ in range(20):
    b, m = 7, 9
    positive, matrix = rng.uniform(0, 3, size=b), rng.uniform(0, 3, size=(b, m))
    mining_positive, mining = rng.uniform(0, 3, size=b), rng.uniform(0, 3, size=(b, m))
    negative = rng.uniform(size=(b, m)) < 0.6
    terms = tl.triplet_terms(positive, matrix, negative, math.log(2.0), mining_positive, mining)
    loss, active = _np_semi_hard_loss(positive, matrix, negative, math.log(2.0),
                                      mining_positive, mining)
    assert float(terms['loss']) == pytest.approx(loss, rel=1e-12, abs=1e-12)
    assert float(terms['semi_hard_active_ratio']) == pytest.approx(active / b)


# -- The algorithm ------------------------------------------------------------------------------
def _batch(rng, size=16):
  anchor, positive = rng.normal(scale=0.3, size=(2, size, 13, 2)).astype(np.float32)
  poses = rng.normal(scale=0.3, size=(size, 17, 3)).astype(np.float32)
  poses_3d = np.stack([poses, poses], axis=1)  # the same 3D pose seen by both cameras
  return tf.constant(anchor), tf.constant(positive), tf.constant(poses_3d)


def test_step_updates_encoder_and_matching_sigmoid_and_embeds_the_mean():
  algorithm = registry.create_algorithm(configs.pr_vipe())
  algorithm.build()
  assert algorithm.needs_3d and algorithm.pose_dim == 16 and algorithm.view_dim == 0
  assert float(algorithm.matching.raw_a) == pytest.approx(-0.65)
  assert float(algorithm.matching.b) == pytest.approx(-0.5)
  anchor, positive, poses_3d = _batch(np.random.default_rng(0))
  before = [v.numpy().copy() for v in algorithm.player_variables('encoder')]
  terms = algorithm.update(base.pair_inputs(anchor, positive, poses_3d=poses_3d))
  assert set(terms) | {'input/guarded_view_fraction'} == set(algorithm.term_names)
  assert all(np.isfinite(v.numpy()) for v in terms.values())
  total = sum(float(terms[k]) for k in ('encoder/triplet_loss', 'encoder/positive_pairwise_loss',
                                        'encoder/kl_regularization_loss'))
  assert float(terms['encoder/total_loss']) == pytest.approx(total, rel=1e-6)
  # Every anchor's own positive has the same 3D pose: never its negative.
  assert float(terms['triplet/negative_pair_fraction']) == pytest.approx(15 / 16)
  after = algorithm.player_variables('encoder')
  assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before[-2:], after[-2:]))
  pose, view = algorithm.embed(anchor)
  outputs, _ = algorithm.encoder(anchor, training=False)
  assert pose.shape == (16, 16) and view.shape == (16, 0)
  np.testing.assert_array_equal(pose, outputs[:, :16])
  assert np.all(outputs[:, 16:].numpy() > 0.0)  # standard deviations
  with pytest.raises(ValueError, match='3D poses'):
    algorithm.update(base.pair_inputs(anchor, positive))


# -- Training through the trainer and the command ----------------------------------------------
def _summary_tags(directory):
  tags = set()
  for path in glob.glob(os.path.join(directory, 'train', 'events.out.tfevents.*')):
    for raw in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(raw.numpy())
      tags.update(value.tag for value in event.summary.value)
  return tags


def test_trains_on_synthetic_pairs_and_logs_every_term(smoke_dir, tmp_path):
  config = configs.smoke_config(input_table=os.path.join(smoke_dir, 'pairs', 'train-*'),
                         output_dir=str(tmp_path), num_steps=4, algorithm=configs.pr_vipe())
  trainer = trainer_lib.Trainer(config, log=lambda _: None)
  terms = trainer.train()
  assert trainer.step == 4 and all(np.isfinite(v) for v in terms.values())
  assert 0.0 < terms['triplet/negative_pair_fraction'] < 1.0
  assert terms['matching/a'] != pytest.approx(math.exp(-0.65))  # a and b are learned
  expected = {f'train/{name}' for name in trainer.algorithm.term_names}
  assert {'train/matching/a', 'train/matching/b', 'train/triplet/semi_hard_active_ratio',
          'train/triplet/hard_negative_distance'} <= expected <= _summary_tags(str(tmp_path))
  algorithm, config, step = restore.load_algorithm(str(tmp_path))
  assert step == 4 and config.algorithm.algorithm == 'PR_VIPE'
  # Downstream it is a run like any other: 16-d per-frame features of the Gaussian's mean.
  manifest = features.write_feature_table(
      os.path.join(smoke_dir, 'penn_like'), str(tmp_path / 'features'),
      embedders.load_embedder(str(tmp_path)), downsample_rate=2, log=lambda _: None)
  assert manifest['feature_dim'] == 16
  test = feature_tables.load_feature_set(str(tmp_path / 'features'), 'test', feature_dim=16)
  assert test.features.shape[-1] == 16 and np.all(np.isfinite(test.features))


def test_pairs_without_3d_are_refused_before_anything_is_written(tmp_path):
  directory = tmp_path / 'pairs_2d'
  directory.mkdir()
  rng = np.random.default_rng(0)
  with tf.io.TFRecordWriter(str(directory / 'train-00000-of-00001.tfrecord')) as writer:
    for _ in range(4):
      writer.write(records.serialize(records.make_example(
          [[100, 100]] * 2, rng.uniform(size=(2, 13, 2)), np.ones((2, 13)))))
  config = configs.smoke_config(input_table=str(directory / 'train-*'), input_type='2D_INPUT',
                         output_dir=str(tmp_path / 'run'), algorithm=configs.pr_vipe())
  with pytest.raises(ValueError, match=r"train-00000-of-00001.tfrecord: record 0 lacks "
                     r"51 required keys: 'image/object/part_3d/Hip/center/y'.*"
                     r"PR_VIPE mines its negatives from them"):
    trainer_lib.Trainer(config, log=lambda _: None).train()
  assert not os.path.exists(tmp_path / 'run') or not os.listdir(tmp_path / 'run')


def test_partial_3d_negatives_come_from_3d_among_labelled_clips_and_from_time_otherwise(float64):
  """fraction_with_3d < 1: a row whose clip keeps its 3D takes 3D negatives among such rows; the
  others take their clip's far frames with temporal_negatives, nothing without."""
  from poem_cvmim.representation import lifting  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import pipeline  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(8)
  clips = rng.integers(-2**62, 2**62, 6)
  keep = lifting.keeps_3d(tf.constant(clips, tf.int64), 0.5).numpy()
  while keep.all() or not keep.any():
    clips = rng.integers(-2**62, 2**62, 6)
    keep = lifting.keeps_3d(tf.constant(clips, tf.int64), 0.5).numpy()
  clips = np.repeat(clips, 3)  # 6 clips x frames 0, 4, 30
  frames = np.tile([0, 4, 30], 6)
  keep = np.repeat(keep, 3)
  poses_3d = np.stack([rng.normal(scale=0.4, size=(18, 17, 3))] * 2, axis=1)
  inputs = base.pair_inputs(
      tf.constant(rng.normal(scale=0.3, size=(18, 13, 2))),
      tf.constant(rng.normal(scale=0.3, size=(18, 13, 2))),
      **{pipeline.POSES_3D: tf.constant(poses_3d), pipeline.CLIPS: tf.constant(clips, tf.int64),
         pipeline.FRAMES: tf.constant(frames, tf.int64),
         pipeline.CAMERAS: tf.constant(np.tile([[1, 2]], (18, 1)), tf.int64)})
  aligned = procrustes.pairwise_procrustes_aligned_mpjpe(poses_3d[:, 0], poses_3d[:, 1]).numpy()
  for temporal in (True, False):
    config = configs.pr_vipe(fraction_with_3d=0.5, temporal_negatives=temporal, negative_gap=8,
                             ignore_gap=4, periodic_guard_2d=1e-9)
    mask = registry.create_algorithm(config).negatives(inputs).numpy()
    expected = np.zeros((18, 18), bool)
    for i in range(18):
      for j in range(18):
        if keep[i]:
          expected[i, j] = keep[j] and aligned[i, j] >= config.pr_vipe.min_negative_keypoint_mpjpe
        elif temporal:
          expected[i, j] = clips[i] == clips[j] and abs(frames[i] - frames[j]) >= 8
    np.testing.assert_array_equal(mask, expected)
  # The full fraction without temporal negatives is the original's mask.
  full = registry.create_algorithm(configs.pr_vipe()).negatives(inputs).numpy()
  np.testing.assert_array_equal(full, aligned >= 0.1)
