"""Every loss against a NumPy implementation of its formula in docs/losses.md."""

import math

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.representation import losses


def _softplus(x):
  return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


_NUMPY_EXPECTATIONS = {
    'GAN': (lambda s: -_softplus(-s), lambda s: _softplus(s)),
    'JSD': (lambda s: math.log(2) - _softplus(-s), lambda s: _softplus(s) - math.log(2)),
    'KL': (lambda s: s, lambda s: np.exp(s - 1)),
    'RKL': (lambda s: -np.exp(-s), lambda s: s - 1),
    'H2': (lambda s: 1 - np.exp(-s), lambda s: np.exp(s) - 1),
    'W1': (lambda s: s, lambda s: s),
}


def _numpy_fenchel(local, global_, measure, positive=None):
  batch = local.shape[0]
  positive = np.eye(batch) if positive is None else positive
  e_pos, e_neg = _NUMPY_EXPECTATIONS[measure]
  pos_sum = neg_sum = 0.0
  for i in range(batch):
    for j in range(batch):
      scores = np.array([[local[i, l] @ global_[j, g] for g in range(global_.shape[1])]
                         for l in range(local.shape[1])])
      pos_sum += positive[i, j] * e_pos(scores).mean()
      neg_sum += (1 - positive[i, j]) * e_neg(scores).mean()
  return (neg_sum / max((1 - positive).sum(), 1e-12) - pos_sum / max(positive.sum(), 1e-12))


def _features(seed, batch=5, num=3, dim=4):
  rng = np.random.default_rng(seed)
  return rng.normal(scale=0.5, size=(batch, num, dim)), rng.normal(scale=0.5,
                                                                  size=(batch, 2, dim))


_NON_IDENTITY = np.eye(5) + np.eye(5, k=1) + np.eye(5, k=-1)


@pytest.mark.parametrize('measure', losses.MEASURES)
@pytest.mark.parametrize('positive', [None, _NON_IDENTITY])
def test_fenchel_dual_loss_matches_numpy(measure, positive):
  local, global_ = _features(0)
  value = losses.fenchel_dual_loss(tf.constant(local), tf.constant(global_), measure,
                                   None if positive is None else tf.constant(positive))
  np.testing.assert_allclose(value.numpy(), _numpy_fenchel(local, global_, measure, positive),
                             rtol=1e-6)


def test_jsd_closed_form_for_single_features():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(6, 1, 3)), rng.normal(size=(6, 1, 3))
  s = a[:, 0] @ b[:, 0].T
  off = ~np.eye(6, dtype=bool)
  expected = _softplus(-np.diag(s)).mean() + _softplus(s[off]).mean() - 2 * math.log(2)
  np.testing.assert_allclose(losses.fenchel_dual_loss(a, b, 'JSD').numpy(), expected,
                             rtol=1e-6)


def test_fenchel_with_batch_known_only_at_run_time():
  spec = tf.TensorSpec([None, 1, 3], tf.float32)
  fn = tf.function(lambda a, b: losses.fenchel_dual_loss(a, b, 'JSD'),
                   input_signature=[spec, spec])
  for batch in (3, 7):
    a, b = np.random.default_rng(batch).normal(size=(2, batch, 1, 3)).astype(np.float32)
    np.testing.assert_allclose(fn(a, b).numpy(), _numpy_fenchel(a, b, 'JSD'), rtol=1e-5)


def test_unknown_measure_lists_valid_ones():
  with pytest.raises(ValueError, match='JSD'):
    losses.fenchel_dual_loss(np.zeros((2, 1, 2)), np.zeros((2, 1, 2)), 'MMD')


@pytest.mark.parametrize('positive', [None, _NON_IDENTITY])
def test_info_nce_matches_numpy(positive):
  local, global_ = _features(2)
  batch, num_local, num_global = 5, 3, 2
  mask = np.eye(batch) if positive is None else positive
  total = []
  for i in range(batch):
    for l in range(num_local):
      for g in range(num_global):
        positive_score = local[i, l] @ global_[i, g]
        negatives = [local[j, k] @ global_[i, g] for j in range(batch) if not mask[i, j]
                     for k in range(num_local)]
        logits = np.array([positive_score] + negatives)
        total.append(-(positive_score - np.log(np.exp(logits).sum())))
  value = losses.info_nce_loss(local, global_, None if positive is None else positive)
  np.testing.assert_allclose(value.numpy(), np.mean(total), rtol=1e-6)


def test_log_likelihood_matches_numpy():
  rng = np.random.default_rng(3)
  mean, logvar, y = rng.normal(size=(3, 4, 5))
  expected = np.mean(-(mean - y) ** 2 / (2 * np.exp(logvar)) - logvar / 2)
  np.testing.assert_allclose(losses.log_likelihood(mean, logvar, y).numpy(), expected,
                             rtol=1e-6)


def _numpy_club(mean, logvar, y, positive=None):
  batch = len(mean)
  positive = np.eye(batch) if positive is None else positive
  m = np.array([[np.mean(-(mean[i] - y[j]) ** 2 / (2 * np.exp(logvar[i])) - logvar[i] / 2)
                 for j in range(batch)] for i in range(batch)])
  pos = (m * positive).sum() / positive.sum()
  neg = (m * (1 - positive)).sum() / (1 - positive).sum()
  return max(0.0, pos - neg)


@pytest.mark.parametrize('positive', [None, _NON_IDENTITY])
def test_contrastive_log_ratio_matches_numpy(positive):
  rng = np.random.default_rng(4)
  y = rng.normal(size=(5, 3))
  mean = y + rng.normal(scale=0.1, size=(5, 3))  # q predicts y well: the bound is positive
  logvar = rng.normal(scale=0.1, size=(5, 3))
  value = losses.contrastive_log_ratio(mean, logvar, y, positive)
  expected = _numpy_club(mean, logvar, y, positive)
  assert expected > 0
  np.testing.assert_allclose(value.numpy(), expected, rtol=1e-6)


def test_contrastive_log_ratio_is_clipped_at_zero():
  rng = np.random.default_rng(5)
  y = rng.normal(size=(4, 3))
  mean = -y * 3  # predicts badly: pos < neg
  value = losses.contrastive_log_ratio(mean, np.zeros((4, 3)), y)
  assert value.numpy() == 0.0


def _linear_discriminator(weights):
  return lambda x, training=None: tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), weights)


def test_gradient_penalty_of_a_linear_discriminator():
  weights = tf.constant([[1.0], [-2.0], [0.5]])
  x = tf.random.uniform([7, 3])
  penalty, outputs = losses.gradient_penalty(_linear_discriminator(weights), x)
  np.testing.assert_allclose(penalty.numpy(), 1.0 + 4.0 + 0.25, rtol=1e-6)
  np.testing.assert_allclose(outputs.numpy(), x.numpy() @ weights.numpy(), rtol=1e-6)


def test_gradient_penalty_of_a_quadratic_discriminator():
  x = tf.constant(np.random.default_rng(6).normal(size=(5, 2, 2)), tf.float32)
  penalty, _ = losses.gradient_penalty(
      lambda v, training=None: tf.reduce_sum(tf.square(v), axis=[1, 2])[:, None], x)
  expected = np.mean(np.sum((2 * x.numpy().reshape(5, -1)) ** 2, axis=-1))
  np.testing.assert_allclose(penalty.numpy(), expected, rtol=1e-5)


def test_discriminator_and_generator_losses_match_numpy():
  weights = tf.constant([[0.3], [-0.7]])
  rng = np.random.default_rng(7)
  real, fake = rng.uniform(size=(2, 6, 2)).astype(np.float32)
  loss, real_out, fake_out = losses.discriminator_loss(_linear_discriminator(weights),
                                                       tf.constant(real), tf.constant(fake))
  d_real, d_fake = real @ weights.numpy(), fake @ weights.numpy()
  penalty = 0.3 ** 2 + 0.7 ** 2
  expected = 0.5 * (_softplus(-d_real).mean() + _softplus(d_fake).mean()) + penalty
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
  np.testing.assert_allclose(losses.generator_loss(fake_out, 'NS').numpy(),
                             _softplus(-d_fake).mean(), rtol=1e-6)
  np.testing.assert_allclose(losses.generator_loss(fake_out, 'MM').numpy(),
                             _softplus(d_fake).mean(), rtol=1e-6)
  with pytest.raises(ValueError, match='NS'):
    losses.generator_loss(fake_out, 'WGAN')


def _broadcast_club(mean, logvar, y, positive):
  """The bound from the full [B, B, d] tensor (the plain way), for comparison."""
  scores = tf.reduce_mean(-tf.square(mean[:, None, :] - y[None, :, :])
                          / (2.0 * tf.exp(logvar[:, None, :])) - logvar[:, None, :] / 2.0, -1)
  negative = 1.0 - positive
  return tf.maximum(tf.reduce_sum(scores * positive) / tf.reduce_sum(positive)
                    - tf.reduce_sum(scores * negative) / tf.reduce_sum(negative), 0.0)


@pytest.mark.parametrize('batch_size', [2, 33])
def test_contrastive_log_ratio_paths_agree_with_the_broadcast_form(batch_size):
  """The O(B d) identity path, the matrix-product path with an explicit identity and the
  [B, B, d] broadcast agree in value and in gradient (float64)."""
  rng = np.random.default_rng(6)
  y = tf.constant(rng.normal(size=(batch_size, 7)))
  mean = tf.constant(y.numpy() + rng.normal(scale=0.3, size=(batch_size, 7)))
  logvar = tf.constant(rng.normal(scale=0.5, size=(batch_size, 7)))
  eye = tf.eye(batch_size, dtype=tf.float64)
  results = []
  for compute in (lambda m, v, t: losses.contrastive_log_ratio(m, v, t),
                  lambda m, v, t: losses.contrastive_log_ratio(m, v, t, eye),
                  lambda m, v, t: _broadcast_club(m, v, t, eye)):
    with tf.GradientTape() as tape:
      tape.watch([mean, logvar, y])
      value = compute(mean, logvar, y)
    results.append([value.numpy()] + [g.numpy() for g in tape.gradient(value,
                                                                       [mean, logvar, y])])
  assert results[0][0] > 0
  for other in results[1:]:
    for a, b in zip(results[0], other):
      np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_contrastive_log_ratio_of_one_pair_has_no_negatives():
  rng = np.random.default_rng(7)
  mean, logvar, y = rng.normal(size=(3, 1, 5)).astype(np.float32)
  value = losses.contrastive_log_ratio(mean, logvar, y)
  expected = np.mean(-(mean - y) ** 2 / (2 * np.exp(logvar)) - logvar / 2)
  np.testing.assert_allclose(value.numpy(), max(expected, 0.0), rtol=1e-5)


# Weights of the negatives: 0 on the diagonal, a pair left out, hard pairs weighted 3.
_WEIGHTS = np.ones((5, 5)) - np.eye(5)
_WEIGHTS[0, 1] = _WEIGHTS[1, 0] = 3.0
_WEIGHTS[2, 4] = 0.0


@pytest.mark.parametrize('measure', ['JSD', 'KL'])
def test_fenchel_dual_loss_with_weighted_negatives_matches_numpy(measure):
  local, global_ = _features(3)
  e_pos, e_neg = _NUMPY_EXPECTATIONS[measure]
  pos = neg = 0.0
  for i in range(5):
    for j in range(5):
      scores = np.array([[local[i, l] @ global_[j, g] for g in range(2)] for l in range(3)])
      pos += (i == j) * e_pos(scores).mean()
      neg += _WEIGHTS[i, j] * e_neg(scores).mean()
  expected = neg / _WEIGHTS.sum() - pos / 5
  value = losses.fenchel_dual_loss(local, global_, measure, negative_weights=_WEIGHTS)
  np.testing.assert_allclose(value.numpy(), expected, rtol=1e-9)
  # Unit weights off the diagonal are the default estimator.
  np.testing.assert_allclose(
      losses.fenchel_dual_loss(local, global_, measure, negative_weights=1 - np.eye(5)).numpy(),
      losses.fenchel_dual_loss(local, global_, measure).numpy(), rtol=1e-12)


def test_info_nce_with_weighted_negatives_matches_numpy():
  local, global_ = _features(4)
  total = []
  for i in range(5):
    for l in range(3):
      for g in range(2):
        positive_score = local[i, l] @ global_[i, g]
        # A negative of weight w counts w times in the denominator; weight 0 is left out.
        denominator = np.exp(positive_score) + sum(
            _WEIGHTS[i, j] * np.exp(local[j, k] @ global_[i, g])
            for j in range(5) if j != i for k in range(3))
        total.append(-(positive_score - np.log(denominator)))
  value = losses.info_nce_loss(local, global_, negative_weights=_WEIGHTS)
  np.testing.assert_allclose(value.numpy(), np.mean(total), rtol=1e-9)


def test_jsd_against_both_sides_reduces_to_the_plain_term_and_weights_its_negatives():
  from poem_cvmim.representation.algorithms import base  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(6)
  a, p = rng.normal(scale=0.5, size=(2, 5, 4))
  off = 1 - np.eye(5)
  np.testing.assert_allclose(base.jsd_with_own_side(a, p, off, np.zeros((5, 5))).numpy(),
                             base.jsd(a, p).numpy(), rtol=1e-12)
  own = np.zeros((5, 5))
  own[0, 3] = 8.0  # anchor 3 as a hard negative of anchor 0
  e_pos, e_neg = _NUMPY_EXPECTATIONS['JSD']
  positives = np.mean([e_pos(a[i] @ p[i]) for i in range(5)])
  negatives = (sum(e_neg(a[i] @ p[j]) for i in range(5) for j in range(5) if i != j)
               + 8.0 * e_neg(a[0] @ a[3])) / (20 + 8.0)
  np.testing.assert_allclose(base.jsd_with_own_side(a, p, off, own).numpy(),
                             negatives - positives, rtol=1e-12)
