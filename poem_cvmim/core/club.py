"""CLUB, the contrastive log-ratio upper bound of mutual information (Cheng et al. 2020).

Shared by CV-MIM's disentanglement term (representation) and TDMI's useful / noisy split
(temporal), so it lives here: a variational q(y | x) = N(mean(x), e^logvar(x)), the network that
predicts it (`LikelihoodEstimator`, trained by its own optimizer to maximise `log_likelihood`),
and the bound that the other player minimises (`contrastive_log_ratio`). docs/losses.md writes
the formulas out.
"""

import keras
import tensorflow as tf

# Smallest count a masked mean divides by (an empty mask gives 0, not NaN).
COUNT_EPSILON = 1e-12


def indicators(positive_indicator_matrix, batch_size, dtype):
  """(positive, negative) [B, B] masks: the identity unless a matrix is given."""
  if positive_indicator_matrix is None:
    positive = tf.eye(batch_size, dtype=dtype)
  else:
    positive = tf.cast(positive_indicator_matrix, dtype)
  return positive, 1.0 - positive


def masked_mean(values, mask):
  return tf.reduce_sum(values * mask) / tf.maximum(tf.reduce_sum(mask), COUNT_EPSILON)


def log_likelihood(mean, logvar, targets):
  """Mean over batch and dims of the Gaussian log-density (up to a constant).

  mean, logvar, targets: [B, d]. Returns mean of -(mean - y)^2 / (2 e^logvar) - logvar / 2.
  """
  return tf.reduce_mean(-tf.square(mean - targets) / (2.0 * tf.exp(logvar)) - logvar / 2.0)


def contrastive_log_ratio(mean, logvar, targets, positive_indicator_matrix=None):
  """CLUB upper bound of I(x; y) from q(y | x) = N(mean, e^logvar).

  Args:
    mean, logvar: [B, d] predicted from x_i; targets: [B, d] the y_j.
    positive_indicator_matrix: Optional [B, B] (default identity).

  Returns:
    max(0, pos - neg) with M[i, j] the dim-mean log-density of y_j under q(. | x_i), pos its
    mean over positive pairs and neg over negative pairs.

  M is never formed as a [B, B, d] tensor: with w = e^-logvar, d M[i, j] =
  c_i + (mean_i w_i) . y_j - (w_i / 2) . y_j^2 where c_i = -sum(mean_i^2 w_i + logvar_i) / 2,
  two [B, d] x [d, B] products. With the default identity the [B, B] matrix is not needed
  either: the sum over all pairs takes the column sums of y and y^2, and the diagonal is
  computed directly, so the bound costs O(B d).
  """
  inverse_variance = tf.exp(-logvar)
  dim = tf.cast(tf.shape(mean)[-1], mean.dtype)
  weighted_mean = mean * inverse_variance
  constant = -0.5 * tf.reduce_sum(mean * weighted_mean + logvar, axis=-1)  # [B]
  if positive_indicator_matrix is None:
    diagonal = tf.reduce_mean(-0.5 * tf.square(mean - targets) * inverse_variance
                              - 0.5 * logvar, axis=-1)  # [B]
    total = (tf.reduce_sum(constant) * tf.cast(tf.shape(mean)[0], mean.dtype)
             + tf.reduce_sum(weighted_mean * tf.reduce_sum(targets, axis=0))
             - 0.5 * tf.reduce_sum(inverse_variance * tf.reduce_sum(tf.square(targets),
                                                                    axis=0))) / dim
    batch_size = tf.cast(tf.shape(mean)[0], mean.dtype)
    positive_mean = tf.reduce_mean(diagonal)
    # One pair has no negatives: their mean is 0, as a masked mean over an empty mask.
    negative_mean = tf.math.divide_no_nan(total - tf.reduce_sum(diagonal),
                                          batch_size * (batch_size - 1.0))
    return tf.maximum(positive_mean - negative_mean, 0.0)
  scores = (constant[:, tf.newaxis]
            + tf.matmul(weighted_mean, targets, transpose_b=True)
            - 0.5 * tf.matmul(inverse_variance, tf.square(targets), transpose_b=True)) / dim
  positive, negative = indicators(positive_indicator_matrix, tf.shape(mean)[0], mean.dtype)
  return tf.maximum(masked_mean(scores, positive) - masked_mean(scores, negative), 0.0)


class LikelihoodEstimator(keras.Model):
  """Variational q(y | x) = N(mean(x), exp(logvar(x))) (docs/losses.md). Returns (mean, logvar).

  Each head is Dense -> BatchNorm -> ELU -> Dense (tanh on the log-variance); without
  `batch_norm`, Dense -> ELU -> Dense, which `frozen` can evaluate with its weights held
  constant (for a model whose one optimizer trains both players: the bound's gradient must
  reach the features, not the estimator)."""

  def __init__(self, output_dim, synchronized_batch_norm=False, batch_norm=True, **kwargs):
    super().__init__(**kwargs)
    self.batch_norm = batch_norm
    def head(name, final_activation):
      layers = [keras.layers.Dense(output_dim, dtype=self.dtype_policy)]
      if batch_norm:
        layers.append(keras.layers.BatchNormalization(synchronized=synchronized_batch_norm,
                                                      dtype=self.dtype_policy))
      layers += [keras.layers.ELU(dtype=self.dtype_policy),
                 keras.layers.Dense(output_dim, activation=final_activation,
                                    dtype=self.dtype_policy)]
      return keras.Sequential(layers, name=name)
    self.mean_head = head('mean', None)
    self.logvar_head = head('logvar', 'tanh')

  def call(self, inputs, training=None):
    return (self.mean_head(inputs, training=training),
            self.logvar_head(inputs, training=training))

  def frozen(self, inputs):
    """(mean, logvar) with no gradient to the estimator's weights (batch_norm=False only)."""
    if self.batch_norm:
      raise ValueError('frozen() needs an estimator built with batch_norm=False.')
    def head(sequential, final):
      first, _, last = sequential.layers
      hidden = tf.nn.elu(tf.matmul(inputs, tf.stop_gradient(first.kernel))
                         + tf.stop_gradient(first.bias))
      return final(tf.matmul(hidden, tf.stop_gradient(last.kernel)) + tf.stop_gradient(last.bias))
    return head(self.mean_head, tf.identity), head(self.logvar_head, tf.tanh)
