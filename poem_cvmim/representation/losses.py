"""Losses of CV-MIM (docs/losses.md) as pure functions of tensors.

Each returns a scalar. Batch sizes may be known only at run time. None of them knows about
replicas: the algorithms call them on batches gathered across replicas (see algorithms.py).
"""

import math

import tensorflow as tf

from poem_cvmim.core import club
from poem_cvmim.core import errors

MEASURES = ('GAN', 'JSD', 'KL', 'RKL', 'H2', 'W1')
GENERATOR_LOSS_KINDS = ('NS', 'MM')  # non-saturating, minimax
_LOG_2 = math.log(2.0)
# The JSD estimator's infimum: softplus terms at 0 leave -2 log 2 (perfectly separated scores).
JSD_MINIMUM = -2.0 * _LOG_2
_COUNT_EPSILON = club.COUNT_EPSILON


def _check_measure(measure):
  if measure not in MEASURES:
    raise errors.InputError(f'Unknown measure {measure!r}; valid: {", ".join(MEASURES)}.')


def positive_expectation(scores, measure):
  """E+ of an f-divergence for positive-pair scores (element-wise)."""
  _check_measure(measure)
  return {
      'GAN': lambda s: -tf.math.softplus(-s),
      'JSD': lambda s: _LOG_2 - tf.math.softplus(-s),
      'KL': lambda s: s,
      'RKL': lambda s: -tf.exp(-s),
      'H2': lambda s: 1.0 - tf.exp(-s),
      'W1': lambda s: s,
  }[measure](scores)


def negative_expectation(scores, measure):
  """E- of an f-divergence for negative-pair scores (element-wise)."""
  _check_measure(measure)
  return {
      'GAN': tf.math.softplus,
      'JSD': lambda s: tf.math.softplus(s) - _LOG_2,
      'KL': lambda s: tf.exp(s - 1.0),
      'RKL': lambda s: s - 1.0,
      'H2': lambda s: tf.exp(s) - 1.0,
      'W1': lambda s: s,
  }[measure](scores)


_indicators = club.indicators
_masked_mean = club.masked_mean


def fenchel_dual_loss(local, global_, measure, positive_indicator_matrix=None,
                      negative_weights=None):
  """f-divergence MI estimator (Hjelm et al. 2019), as a loss to minimise.

  Args:
    local: [B, L, d] local features (the critic's side).
    global_: [B, G, d] global features.
    measure: One of MEASURES.
    positive_indicator_matrix: Optional [B, B], 1 for positive pairs (default identity).
    negative_weights: Optional [B, B] weights of the pairs as negatives (default: 1 for every
      pair that is not positive); 0 leaves a pair out, more than 1 makes it a hard negative
      (`mining.temporal_negative_weights`).

  Returns:
    Scalar neg - pos, where pos is the mean of E+ over positive pairs and neg the mean of E-
    over negative pairs weighted by `negative_weights`, of the scores
    <local[i, l], global_[j, g]> averaged over l and g.
  """
  scores = tf.einsum('ild,jgd->iljg', local, global_)  # [B, L, B, G]
  positive_scores = tf.reduce_mean(positive_expectation(scores, measure), axis=[1, 3])
  negative_scores = tf.reduce_mean(negative_expectation(scores, measure), axis=[1, 3])
  positive, negative = _indicators(positive_indicator_matrix, tf.shape(local)[0], local.dtype)
  if negative_weights is not None:
    negative = tf.cast(negative_weights, local.dtype)
  return _masked_mean(negative_scores, negative) - _masked_mean(positive_scores, positive)


def info_nce_loss(local, global_, positive_indicator_matrix=None, temperature=1.0,
                  negative_weights=None):
  """InfoNCE (van den Oord et al. 2018) with a dot-product critic.

  Args:
    local: [B, L, d]; global_: [B, G, d].
    positive_indicator_matrix: Optional [B, B]; positives other than the row's own pair are
      left out of its negatives.
    temperature: Scores are divided by it.
    negative_weights: Optional [B, B] weights w[i, j] of local[j] as a negative of
      global_[i]: a negative counts w times in the softmax's denominator (its logit gains log w; 0 leaves it out).
      Positives are left out whatever their weight.

  Returns:
    Mean over (i, l, g) of -log softmax of the positive score <local[i, l], global_[i, g]>
    against the negatives <local[j, l'], global_[i, g]> for all j not positive to i and all l'.
  """
  batch_size = tf.shape(local)[0]
  positive_scores = tf.einsum('ild,igd->ilg', local, global_) / temperature  # [B, L, G]
  scores = tf.einsum('jkd,igd->ijkg', local, global_) / temperature  # [B(i), B(j), L, G]
  positive, _ = _indicators(positive_indicator_matrix, batch_size, local.dtype)
  # Positive pairs are masked out of the negatives by a very negative logit.
  negatives = scores - 1e12 * positive[:, :, tf.newaxis, tf.newaxis]
  if negative_weights is not None:
    weights = tf.cast(negative_weights, local.dtype)
    log_weights = tf.where(weights > 0, tf.math.log(tf.maximum(weights, _COUNT_EPSILON)),
                           tf.constant(-1e12, local.dtype))
    negatives += log_weights[:, :, tf.newaxis, tf.newaxis]
  num_locals = tf.shape(local)[1]
  negatives = tf.reshape(negatives, [batch_size, 1, -1, tf.shape(global_)[1]])
  negatives = tf.tile(negatives, [1, num_locals, 1, 1])  # [B, L, B * L, G]
  logits = tf.concat([positive_scores[:, :, tf.newaxis, :], negatives], axis=2)
  return -tf.reduce_mean(tf.nn.log_softmax(logits, axis=2)[:, :, 0, :])


# CLUB lives in core (TDMI's disentanglement uses it too); these names keep the losses' API.
log_likelihood = club.log_likelihood
contrastive_log_ratio = club.contrastive_log_ratio


def gradient_penalty(discriminator, inputs):
  """Mean over the batch of ||dD(x)/dx||^2 (Mescheder et al. 2018, R1/R2).

  Args:
    discriminator: Callable [B, ...] -> [B, 1].
    inputs: [B, ...].

  Returns:
    (penalty scalar, discriminator outputs [B, 1]) from one forward pass.
  """
  with tf.GradientTape() as tape:
    tape.watch(inputs)
    outputs = discriminator(inputs, training=True)
  gradients = tape.gradient(outputs, inputs)
  gradients = tf.reshape(gradients, [tf.shape(inputs)[0], -1])
  return tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=-1)), outputs


def discriminator_loss(discriminator, real, fake):
  """0.5 [mean softplus(-D(real)) + mean softplus(D(fake))] + 0.5 (GP(real) + GP(fake)).

  Returns (loss, real_outputs, fake_outputs); the GAN terms reuse the penalty's forward passes.
  """
  real_penalty, real_outputs = gradient_penalty(discriminator, real)
  fake_penalty, fake_outputs = gradient_penalty(discriminator, fake)
  gan = 0.5 * (tf.reduce_mean(tf.math.softplus(-real_outputs))
               + tf.reduce_mean(tf.math.softplus(fake_outputs)))
  return gan + 0.5 * (real_penalty + fake_penalty), real_outputs, fake_outputs


def generator_loss(fake_outputs, kind='NS'):
  """NS: mean softplus(-D(fake)) (non-saturating); MM: mean softplus(D(fake)) (minimax)."""
  if kind == 'NS':
    return tf.reduce_mean(tf.math.softplus(-fake_outputs))
  if kind == 'MM':
    return tf.reduce_mean(tf.math.softplus(fake_outputs))
  raise errors.InputError(
      f'Unknown generator loss {kind!r}; valid: {", ".join(GENERATOR_LOSS_KINDS)}.')
