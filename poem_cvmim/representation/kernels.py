"""The representation step's performance machinery, apart from the architecture: dropout masks
drawn from a step key, the fused batch-norm training call, and Adagrad as one fused kernel.

Each computes what the plain Keras path computes (tests/test_kernels.py compares them), faster
on CPU; the networks (`networks`) and the algorithms (`algorithms/base`) call them.
"""

import keras
import tensorflow as tf

from poem_cvmim.representation import configs


class StepDropout(keras.layers.Dropout):
  """Dropout whose mask is a stateless draw from a key passed to `call` (`seed`), such as the
  training step's; without a key it is Keras' Dropout (its own seed generator).

  The keyed mask skips the seed generator's read-modify-write of a state variable, which costs
  twice what drawing the mask does; and a resumed run draws the same masks as the
  uninterrupted one because the key is a function of the step.
  """

  def call(self, inputs, training=False, seed=None):
    """`seed`: a key, or a list of keys, one per equal part of the batch (`SimpleModel`'s
    `groups`): each part's mask is then the one the key alone would draw for that part."""
    if training and self.rate > 0 and seed is not None:
      return keyed_dropout(inputs, self.rate, seed if isinstance(seed, (list, tuple))
                           else [seed])
    return super().call(inputs, training=training)


def keyed_dropout(inputs, rate, seeds):
  """Dropout of len(seeds) equal parts of the batch [N, d], each part's mask a stateless draw
  from its own key (so a part's mask does not depend on how the batch was split).

  Where rate·256 is a whole number (CV-MIM's 0.25) and d a multiple of 4, an element's draw is
  one byte of a 32-bit Philox output, kept if the byte is ≥ rate·256 (exactly the rate): a
  quarter of the random numbers of one float per element, which made the masks about 2x
  cheaper. Otherwise the mask is `tf.nn.experimental.stateless_dropout`'s (one uniform float
  per element).
  """
  parts = len(seeds)
  rows = tf.shape(inputs)[0] // parts
  width = inputs.shape[-1]
  threshold = rate * 256
  if inputs.shape.rank == 2 and width % 4 == 0 and threshold == int(threshold):
    keep = [tf.reshape(tf.bitcast(tf.random.stateless_uniform(
        [rows, width // 4], seed, minval=None, maxval=None, dtype=tf.uint32), tf.uint8),
                       [rows, width]) >= int(threshold) for seed in seeds]
  else:
    shape = tf.concat([[rows], tf.shape(inputs)[1:]], axis=0)
    keep = [tf.random.stateless_uniform(shape, seed, dtype=inputs.dtype) >= rate
            for seed in seeds]
  keep = keep[0] if parts == 1 else tf.concat(keep, axis=0)
  scale = tf.constant(1.0 / (1.0 - rate), inputs.dtype)
  return tf.where(keep, inputs * scale, tf.zeros([], inputs.dtype))


# The fused kernel raises a smaller epsilon to this floor without a word; a layer built with
# less takes the composite.
FUSED_EPSILON_FLOOR = 1.001e-5


def batch_norm_training(layer, inputs, groups=1):
  """A training call of the Keras BatchNormalization `layer` (local, not synchronized) on each
  of `groups` equal parts of the batch [N, d] in turn, as one computation: each part is
  normalised by its own moments and the moving statistics take one update per part, in order.

  In float32 a part is normalised by TensorFlow's fused batch-norm kernel (forward and backward
  about 1.8x faster on this CPU than the composite of moments and elementwise ops Keras runs);
  its variance output is the unbiased one, so the moving variance takes it times (n - 1) / n,
  the batch's own variance as in Keras. Other dtypes and layer setups, and an epsilon below
  the kernel's floor, take the composite.
  """
  if not layer.built:
    layer.build(inputs.shape)
  width = inputs.shape[-1]
  fused = (layer.center and layer.scale and layer.axis in (-1, 1) and inputs.shape.rank == 2
           and inputs.dtype == tf.float32 and layer.gamma.dtype == tf.float32
           and layer.epsilon >= FUSED_EPSILON_FLOOR)
  if not fused and groups == 1:
    return layer(inputs, training=True)
  parts = tf.split(inputs, groups, axis=0) if groups > 1 else [inputs]
  outputs, moments = [], []
  for part in parts:
    if fused:
      normalized, mean, variance = tf.compat.v1.nn.fused_batch_norm(
          tf.reshape(part, [-1, 1, 1, width]), layer.gamma, layer.beta,
          epsilon=layer.epsilon, is_training=True)
      rows = tf.cast(tf.shape(part)[0], variance.dtype)
      variance = tf.where(rows > 1, variance * ((rows - 1) / rows), tf.zeros_like(variance))
      outputs.append(tf.reshape(normalized, tf.shape(part)))
    else:
      mean, variance = tf.nn.moments(part, axes=[0])
      outputs.append(tf.nn.batch_normalization(
          part, mean, variance, offset=tf.cast(layer.beta, part.dtype),
          scale=tf.cast(layer.gamma, part.dtype), variance_epsilon=layer.epsilon))
    moments.append((mean, variance))
  moving_mean = tf.cast(layer.moving_mean, inputs.dtype)
  moving_variance = tf.cast(layer.moving_variance, inputs.dtype)
  for mean, variance in moments:
    moving_mean = moving_mean * layer.momentum + mean * (1.0 - layer.momentum)
    moving_variance = moving_variance * layer.momentum + variance * (1.0 - layer.momentum)
  layer.moving_mean.assign(tf.cast(moving_mean, layer.moving_mean.dtype))
  layer.moving_variance.assign(tf.cast(moving_variance, layer.moving_variance.dtype))
  return outputs[0] if groups == 1 else tf.concat(outputs, axis=0)


def fold_seed(seed, index):
  """A key (or each of a list of keys) folded with `index`; None stays None."""
  if seed is None:
    return None
  if isinstance(seed, (list, tuple)):
    return [tf.random.experimental.stateless_fold_in(s, index) for s in seed]
  return tf.random.experimental.stateless_fold_in(seed, index)


class Adagrad(keras.optimizers.Adagrad):
  """Keras' Adagrad (same slots, checkpoints and config) whose update is TensorFlow's fused
  kernel: accum += g², var -= lr g / (sqrt(accum) + epsilon) — the update of the TF2 Keras
  Adagrad the original trained with (Keras 3 divides by sqrt(accum + epsilon) instead), in one
  pass over each variable where Keras 3 makes six."""

  def update_step(self, gradient, variable, learning_rate):
    dtype = variable.dtype
    accumulator = self._accumulators[self._get_variable_index(variable)]
    tf.raw_ops.ResourceApplyAdagradV2(
        var=variable.handle, accum=accumulator.handle, lr=tf.cast(learning_rate, dtype),
        epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def adagrad(config: configs.AlgorithmConfig) -> Adagrad:
  return Adagrad(learning_rate=config.learning_rate,
                 initial_accumulator_value=config.initial_accumulator_value,
                 epsilon=config.epsilon)
