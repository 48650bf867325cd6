"""TDMI's modules against NumPy (float64): per-frame stages, temporal differences, the
incremental fusion, the dilated convolution, the gated split, the head, and the MI term."""

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.core import club
from poem_cvmim.temporal import tdmi

_CONFIG = tdmi.TdmiConfig(radius=3, width=6, num_stages=3, kernel_size=3, mi_weight=0.5)


def _relu(x):
  return np.maximum(x, 0.0)


def _dense(layer, x):
  return x @ layer.kernel.numpy() + layer.bias.numpy()


def _block(block, x):
  return x + _dense(block.outer, _relu(_dense(block.inner, x)))


def _conv_same(conv, x):
  """Conv1D 'same' with dilation d over x [B, T, C] (zero padding), then ReLU."""
  kernel, bias = conv.kernel.numpy(), conv.bias.numpy()  # [k, C, C']
  size, dilation = kernel.shape[0], conv.dilation_rate[0]
  reach = dilation * (size - 1)
  left = reach // 2
  padded = np.pad(x, ((0, 0), (left, reach - left), (0, 0)))
  out = np.zeros(x.shape[:2] + (kernel.shape[2],))
  for t in range(x.shape[1]):
    for k in range(size):
      out[:, t] += padded[:, t + k * dilation] @ kernel[k]
  return _relu(out + bias)


def _numpy_refiner(refiner, config, windows):
  """The forward pass of docs/tdmi.md written out."""
  key = windows[:, config.radius, :, :2]
  relative = tdmi.RELATIVE_GAIN * (windows[..., :2] - key[:, None])
  frames = np.concatenate([relative, windows], axis=-1).reshape(len(windows), config.window, -1)
  encoder = refiner.encoder
  features = [_dense(encoder.embed, frames)]
  for block in encoder.frame_blocks:
    features.append(_block(block, features[-1]))
  motion = None
  for h, stage in zip(features, encoder.stages):
    if config.differences:
      steps = np.concatenate([np.zeros_like(h[:, :1]), h[:, 1:] - h[:, :-1]], axis=1)
    else:
      steps = h
    if motion is not None:
      steps = steps + motion[:, None, :]
    convolved = _conv_same(stage.conv, _block(stage.block, steps))
    motion = _dense(stage.aggregate, convolved.reshape(len(windows), -1))
  gate = 1.0 / (1.0 + np.exp(-_dense(refiner.disentangle.gate, motion)))
  useful, noisy = gate * motion, (1.0 - gate) * motion
  fused = _relu(_dense(refiner.fuse, np.concatenate([features[-1][:, config.radius], useful],
                                                     axis=-1)))
  correction = _dense(refiner.head, _block(refiner.head_block, fused)).reshape(-1, 13, 2)
  return key + correction / tdmi.RELATIVE_GAIN, useful, noisy


def _randomize(model, rng):
  """Non-zero weights everywhere (the head starts at zero)."""
  for variable in model.trainable_variables:
    variable.assign(rng.normal(0.0, 0.3, variable.shape))


@pytest.mark.parametrize('differences', [True, False])
def test_refiner_matches_numpy(differences):
  config = tdmi.TdmiConfig(radius=3, width=6, num_stages=3, differences=differences)
  refiner, _ = tdmi.build(config, 'float64')
  rng = np.random.default_rng(0)
  _randomize(refiner, rng)
  windows = rng.normal(size=(4, config.window, 13, 3))
  joints, useful, noisy = (t.numpy() for t in refiner.parts(tf.constant(windows)))
  assert joints.shape == (4, 13, 2) and useful.shape == noisy.shape == (4, 6)
  expected = _numpy_refiner(refiner, config, windows)
  for got, want in zip((joints, useful, noisy), expected):
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
  motion = refiner.encoder(tf.constant(np.concatenate([
      tdmi.RELATIVE_GAIN * (windows[..., :2] - windows[:, 3:4, :, :2]), windows],
      axis=-1).reshape(4, config.window, -1)))[0].numpy()
  np.testing.assert_allclose(useful + noisy, motion, rtol=1e-10, atol=1e-12)  # the gate splits M


def test_differences_are_consecutive_with_a_zero_first_step():
  h = np.random.default_rng(1).normal(size=(2, 5, 3))
  d = tdmi.differences(tf.constant(h)).numpy()
  np.testing.assert_array_equal(d[:, 0], 0.0)
  for t in range(1, 5):
    np.testing.assert_allclose(d[:, t], h[:, t] - h[:, t - 1])


def test_untrained_refiner_returns_the_key_frame():
  refiner, _ = tdmi.build(_CONFIG, 'float64')
  windows = np.random.default_rng(2).normal(size=(3, _CONFIG.window, 13, 3))
  np.testing.assert_allclose(refiner(tf.constant(windows)).numpy(),
                             windows[:, _CONFIG.radius, :, :2])


def _numpy_club(mean, logvar, y):
  batch = len(mean)
  scores = np.array([[np.mean(-0.5 * (mean[i] - y[j]) ** 2 / np.exp(logvar[i])
                              - 0.5 * logvar[i]) for j in range(batch)] for i in range(batch)])
  positive = np.trace(scores) / batch
  negative = (scores.sum() - np.trace(scores)) / (batch * (batch - 1))
  return max(positive - negative, 0.0), np.mean(-(mean - y) ** 2 / (2 * np.exp(logvar))
                                                 - logvar / 2)


def test_mi_term_is_club_of_useful_and_noisy_parts():
  refiner, estimator = tdmi.build(_CONFIG, 'float64')
  rng = np.random.default_rng(3)
  _randomize(refiner, rng)
  windows = rng.normal(size=(5, _CONFIG.window, 13, 3))
  targets = rng.normal(size=(5, 13, 2))
  terms = tdmi.losses(refiner, estimator, _CONFIG, tf.constant(windows), tf.constant(targets),
                      training=False)
  joints, useful, noisy = _numpy_refiner(refiner, _CONFIG, windows)
  mean, logvar = (t.numpy() for t in estimator(tf.constant(useful), training=False))
  bound, likelihood = _numpy_club(mean, logvar, noisy)
  error = np.mean(np.sqrt(np.sum((joints - targets) ** 2, axis=-1) + tdmi.ERROR_EPSILON))
  np.testing.assert_allclose(terms['refiner/mi_bound'].numpy(), bound, rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(terms['estimator/likelihood_loss'].numpy(), -likelihood, rtol=1e-9)
  np.testing.assert_allclose(terms['refiner/error_loss'].numpy(), error, rtol=1e-9)
  np.testing.assert_allclose(terms['refiner/total_loss'].numpy(),
                             error + _CONFIG.mi_weight * bound, rtol=1e-9)


def test_no_mi_term_builds_no_estimator():
  config = tdmi.TdmiConfig(radius=2, width=4, mi_weight=0.0)
  refiner, estimator = tdmi.build(config)
  assert estimator is None
  terms = tdmi.losses(refiner, None, config, tf.zeros([2, 5, 13, 3]), tf.zeros([2, 13, 2]))
  assert 'refiner/mi_bound' not in terms


def test_capacity_control_has_the_same_parameters():
  full, _ = tdmi.build(tdmi.TdmiConfig())
  control, _ = tdmi.build(tdmi.TdmiConfig(differences=False))
  assert full.count_params() == control.count_params()


def test_club_moved_to_core_is_the_one_the_losses_use():
  from poem_cvmim.representation import losses  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import networks  # pylint: disable=g-import-not-at-top
  assert losses.contrastive_log_ratio is club.contrastive_log_ratio
  assert networks.LikelihoodEstimator is club.LikelihoodEstimator


@pytest.mark.parametrize('fields', [{'radius': 0}, {'width': 0}, {'mi_weight': -1.0}])
def test_config_refuses_bad_values(fields):
  with pytest.raises(ValueError):
    tdmi.TdmiConfig(**fields)


def test_frozen_estimator_equals_its_call_and_passes_no_gradient_to_its_weights():
  estimator = club.LikelihoodEstimator(4, batch_norm=False, dtype='float64')
  x = tf.constant(np.random.default_rng(4).normal(size=(3, 4)))
  mean, logvar = estimator(x)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    frozen_mean, frozen_logvar = estimator.frozen(x)
    total = tf.reduce_sum(frozen_mean) + tf.reduce_sum(frozen_logvar)
  np.testing.assert_allclose(frozen_mean.numpy(), mean.numpy(), rtol=1e-12)
  np.testing.assert_allclose(frozen_logvar.numpy(), logvar.numpy(), rtol=1e-12)
  assert all(g is None for g in tape.gradient(total, estimator.trainable_variables))
  assert np.abs(tape.gradient(total, x).numpy()).sum() > 0


def test_clip_motion_stream_players_move_only_their_own_weights():
  config = tdmi.TdmiConfig(width=5, num_stages=2, mi_weight=1.0)
  stream = tdmi.ClipMotionStream(config, dtype='float64')
  features = tf.constant(np.random.default_rng(5).normal(size=(6, 10, 7)))
  stream(features, training=False)
  for variable in stream.trainable_variables:  # away from the zero-bound corner
    variable.assign(np.random.default_rng(6).normal(0.0, 0.5, variable.shape))
  with tf.GradientTape(persistent=True) as tape:
    useful = stream(features, training=True)
    (loss,) = stream.losses
  estimator = stream.estimator.trainable_variables
  encoder = [v for v in stream.trainable_variables if all(v is not e for e in estimator)]
  # The estimator's weights get exactly -d log-likelihood; the encoder gets exactly mi_weight x
  # d bound (the bound computed from the same weights, written out here).
  mean, logvar = stream.estimator(useful)
  motion, _ = stream.encoder(features)
  useful_again, noisy = stream.disentangle(motion)
  with tf.GradientTape(persistent=True) as check:
    mean, logvar = stream.estimator(tf.stop_gradient(useful_again))
    negative_likelihood = -club.log_likelihood(mean, logvar, tf.stop_gradient(noisy))
    motion, _ = stream.encoder(features)
    u, n = stream.disentangle(motion)
    bound = club.contrastive_log_ratio(*stream.estimator.frozen(u), n)
  assert float(bound) > 0.0
  for got, want in zip(tape.gradient(loss, estimator), check.gradient(negative_likelihood, estimator)):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12)
  for variable, got, want in zip(encoder, tape.gradient(loss, encoder),
                                 check.gradient(bound, encoder)):
    assert (got is None) == (want is None), variable.path
    if got is not None:
      np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12)
