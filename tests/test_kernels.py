"""The representation step's kernels (representation/kernels.py) against the plain Keras path
they replace: fused batch norm, Adagrad as one fused kernel, dropout masks from a step key."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.representation import configs
from poem_cvmim.representation import kernels


@pytest.mark.parametrize('groups,rows', [(1, 8), (2, 8), (2, 1)])
def test_fused_batch_norm_equals_the_keras_layer(groups, rows):
  """In float32 training calls run TensorFlow's fused kernel: outputs, gradients of the input,
  gamma and beta, and the moving statistics (one update per part) are those of the Keras layer
  called on each part in turn, one-row parts included (variance 0, as Keras)."""
  rng = np.random.default_rng(4)
  x = tf.constant(rng.normal(loc=0.5, scale=2.0, size=(groups * rows, 12)), tf.float32)
  weights = tf.constant(rng.normal(size=(groups * rows, 12)), tf.float32)
  layers = [keras.layers.BatchNormalization(momentum=0.9) for _ in range(2)]
  for layer in layers:
    layer.build(x.shape)
    layer.gamma.assign(rng.uniform(0.5, 1.5, size=12))
    layer.beta.assign(rng.normal(size=12))
    layer.moving_variance.assign(rng.uniform(0.5, 1.5, size=12))
  fused, keras_layer = layers
  keras_layer.set_weights(fused.get_weights())

  @tf.function  # a graph, as in training (where grappler may swap in oneDNN's kernel)
  def run():
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      fused_out = kernels.batch_norm_training(fused, x, groups)
      keras_out = tf.concat([keras_layer(part, training=True)
                             for part in tf.split(x, groups)], axis=0)
      losses = [tf.reduce_sum(weights * tf.sin(out)) for out in (fused_out, keras_out)]
    return (fused_out, keras_out, tape.gradient(losses[0], [x, fused.gamma, fused.beta]),
            tape.gradient(losses[1], [x, keras_layer.gamma, keras_layer.beta]))

  fused_out, keras_out, fused_grads, keras_grads = run()
  np.testing.assert_allclose(fused_out, keras_out, rtol=1e-5, atol=1e-5)
  for fused_grad, keras_grad in zip(fused_grads, keras_grads):
    np.testing.assert_allclose(fused_grad, keras_grad, rtol=1e-4, atol=1e-4)
  for name in ('moving_mean', 'moving_variance'):
    np.testing.assert_allclose(getattr(fused, name), getattr(keras_layer, name), rtol=1e-5,
                               atol=1e-6, err_msg=name)


def test_batch_norm_with_an_epsilon_below_the_fused_floor_equals_the_keras_layer(monkeypatch):
  """Fused batch-norm kernels may raise an epsilon below 1.001e-5 to that floor (cuDNN does;
  TensorFlow's CPU kernel here does not): on features whose variance is about 1e-6, epsilon
  1e-7 against 1.001e-5 changes the output about 3x. Such a layer takes the composite path."""
  calls = []
  fused = tf.compat.v1.nn.fused_batch_norm
  monkeypatch.setattr(tf.compat.v1.nn, 'fused_batch_norm',
                      lambda *a, **k: calls.append(k['epsilon']) or fused(*a, **k))
  inputs = tf.constant(np.random.default_rng(0).normal(scale=1e-3, size=(64, 8)), tf.float32)
  layer = keras.layers.BatchNormalization(epsilon=1e-7)
  twin = keras.layers.BatchNormalization(epsilon=1e-7)
  layer.build(inputs.shape)
  twin.build(inputs.shape)
  got = kernels.batch_norm_training(layer, inputs).numpy()
  expected = twin(inputs, training=True).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
  np.testing.assert_allclose(layer.moving_variance.numpy(), twin.moving_variance.numpy(),
                             rtol=1e-4, atol=1e-12)
  assert not calls
  kernels.batch_norm_training(keras.layers.BatchNormalization(epsilon=1e-3), inputs)
  assert calls == [1e-3]  # the spy sees the fused path where it applies


def test_adagrad_is_the_original_update():
  """accum += g², var -= lr g / (sqrt(accum) + epsilon) (TF2 Keras' Adagrad, the original's),
  from the configured initial accumulator; Keras 3's own update would differ by ~1e-8."""
  optimizer = kernels.adagrad(configs.AlgorithmConfig())
  variable = keras.Variable(np.array([[0.5, -1.0], [2.0, 0.0]]), dtype='float64')
  optimizer.build([variable])
  # Keras keeps the learning rate in float32 and fills the accumulator from a float32 0.1.
  learning_rate, initial = float(np.float32(0.02)), float(np.float32(0.1))
  expected, accumulator = variable.numpy().copy(), np.full((2, 2), initial)
  rng = np.random.default_rng(0)
  for _ in range(3):
    gradient = rng.normal(size=(2, 2)) * 1e-3  # small: epsilon's place shows
    optimizer.apply_gradients([(tf.constant(gradient), variable)])
    accumulator += gradient ** 2
    expected -= learning_rate * gradient / (np.sqrt(accumulator) + 1e-7)
  np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-14, atol=0)
  np.testing.assert_allclose(optimizer.variables[-1].numpy(), accumulator, rtol=1e-14)


def test_keyed_dropout_keeps_each_element_with_the_rate():
  """Byte draws (rate·256 whole): every byte position of the 32-bit draws keeps 3/4 of its
  elements; the kept ones are scaled by 1 / (1 - rate). Another rate: stateless_dropout."""
  x = tf.ones([512, 1024])
  y = kernels.keyed_dropout(x, 0.25, [tf.constant([1, 2])]).numpy()
  assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
  kept = y > 0
  assert abs(kept.mean() - 0.75) < 0.003  # 524,288 draws: std of the mean 0.0006
  for position in range(4):
    assert abs(kept[:, position::4].mean() - 0.75) < 0.005
  other = kernels.keyed_dropout(x, 0.25, [tf.constant([1, 3])]).numpy()
  assert 0.5 < ((other > 0) == kept).mean() < 0.7  # independent masks agree on 5/8
  z = tf.random.stateless_normal([64, 30], [4, 5])
  np.testing.assert_array_equal(
      kernels.keyed_dropout(z, 0.3, [tf.constant([6, 7])]),
      tf.nn.experimental.stateless_dropout(z, 0.3, seed=tf.constant([6, 7])))
