"""Losses of Pr-VIPE (docs/losses.md, "Pr-VIPE") as pure functions of tensors.

Probabilistic embeddings are compared through a learned sigmoid matching probability of the
L2 distance between their samples; triplets take their negatives from 3D pose distances and
are mined semi-hard. None of these functions knows about replicas: the algorithm calls them on
batches gathered across replicas.
"""

import math

import tensorflow as tf

from poem_cvmim.core import errors

# The original's defaults (Sun et al., ECCV 2020, and their trainer's flags).
MATCHING_SMOOTHING = 0.1
TRIPLET_MARGIN = math.log(2.0)  # a ratio of matching probabilities of 2
# Smallest count or ratio a mean divides by.
_EPSILON = 1e-12


def _as_dtype(value, dtype):
  """A tensor of `dtype` (a Python number converted directly, not through float32)."""
  if isinstance(value, (int, float)):
    return tf.constant(value, dtype)
  return tf.cast(value, dtype)


def matching_slope(raw_a):
  """The sigmoid's slope a = ELU(raw_a) + 1 > 0."""
  return tf.nn.elu(raw_a) + 1.0


def sigmoid_matching_probability(distances, raw_a, b, smoothing=MATCHING_SMOOTHING):
  """p = (1 - s) sigmoid(-a d + b) + s / 2 with a = ELU(raw_a) + 1; element-wise over [...]."""
  distances = tf.convert_to_tensor(distances)
  a = matching_slope(_as_dtype(raw_a, distances.dtype))
  p = tf.sigmoid(-a * distances + _as_dtype(b, distances.dtype))
  return (1.0 - smoothing) * p + smoothing / 2.0


def _pairwise_l2(lhs, rhs):
  """L2 distances of all sample pairs: [..., K, d] x [..., L, d] -> [..., K, L]."""
  squared = (tf.reduce_sum(tf.square(lhs), axis=-1)[..., :, tf.newaxis]
             + tf.reduce_sum(tf.square(rhs), axis=-1)[..., tf.newaxis, :]
             - 2.0 * tf.linalg.matmul(lhs, rhs, transpose_b=True))
  return tf.sqrt(tf.maximum(squared, 0.0))


def matching_distance(lhs_samples, rhs_samples, raw_a, b, smoothing=MATCHING_SMOOTHING):
  """D = -log of the matching probability averaged over all K x L sample pairs.

  lhs_samples [..., K, d], rhs_samples [..., L, d] (broadcasting leading shapes) -> [...].
  """
  p = sigmoid_matching_probability(_pairwise_l2(lhs_samples, rhs_samples), raw_a, b, smoothing)
  return -tf.math.log(tf.reduce_mean(p, axis=[-2, -1]))


def matching_distance_matrix(anchor_samples, match_samples, raw_a, b,
                             smoothing=MATCHING_SMOOTHING):
  """`matching_distance` of every (anchor i, match j): [N, K, d] x [M, L, d] -> [N, M].

  One [N K, M L] matrix product instead of N M small ones.
  """
  n, k = tf.shape(anchor_samples)[0], tf.shape(anchor_samples)[1]
  m, l = tf.shape(match_samples)[0], tf.shape(match_samples)[1]
  dim = tf.shape(anchor_samples)[-1]
  lhs = tf.reshape(anchor_samples, [n * k, dim])
  rhs = tf.reshape(match_samples, [m * l, dim])
  distances = tf.reshape(_pairwise_l2(lhs, rhs), [n, k, m, l])
  p = sigmoid_matching_probability(distances, raw_a, b, smoothing)
  return -tf.math.log(tf.reduce_mean(p, axis=[1, 3]))


def _masked_min(distances, mask):
  """Row-wise minimum over the entries where `mask` holds; the dtype's max where none."""
  filled = tf.where(tf.stop_gradient(mask), distances,
                    tf.fill(tf.shape(distances), distances.dtype.max))
  return tf.reduce_min(filled, axis=-1)


def hard_negative_distances(anchor_match_distances, negative_indicators, use_semi_hard=False,
                            anchor_positive_mining_distances=None,
                            anchor_match_mining_distances=None):
  """The (semi-)hard negative of each anchor: the nearest valid negative by the mining distance.

  Args:
    anchor_match_distances: [B, M] distances the loss uses.
    negative_indicators: [B, M] bool, True where match j is a negative of anchor i.
    use_semi_hard: Only negatives farther (by mining distance) than the anchor's positive.
    anchor_positive_mining_distances: [B], required with `use_semi_hard`.
    anchor_match_mining_distances: [B, M] distances to mine with (None: the loss's).

  Returns:
    (negative_distances [B], negative_mining_distances [B]): the loss and mining distances of
    the mined negative (the smallest loss distance among ties); the dtype's max where an anchor
    has no valid negative.
  """
  indicators = tf.convert_to_tensor(negative_indicators, tf.bool)
  anchor_match_distances = tf.convert_to_tensor(anchor_match_distances)
  if anchor_match_mining_distances is None:
    anchor_match_mining_distances = anchor_match_distances
  anchor_match_mining_distances = tf.convert_to_tensor(anchor_match_mining_distances)
  if use_semi_hard:
    if anchor_positive_mining_distances is None:
      raise errors.InputError('Semi-hard mining needs anchor_positive_mining_distances.')
    indicators &= (anchor_match_mining_distances
                   > tf.convert_to_tensor(anchor_positive_mining_distances)[:, tf.newaxis])
  mining = _masked_min(anchor_match_mining_distances, indicators)
  indicators &= tf.equal(anchor_match_mining_distances, mining[:, tf.newaxis])
  return _masked_min(anchor_match_distances, indicators), mining


def hard_negative_triplet_loss(anchor_positive_distances, anchor_match_distances,
                               negative_indicators, margin, use_semi_hard=True,
                               anchor_positive_mining_distances=None,
                               anchor_match_mining_distances=None):
  """Triplet loss relu(D_ap + margin - D_an) with (semi-)hard negatives.

  Shapes as `hard_negative_distances`; anchor_positive_distances [B]. Mining distances
  default to the loss's. An anchor without a valid negative contributes 0.

  Returns:
    (loss: mean over all B anchors, number of active triplets (loss > 0, int64),
     negative_distances [B] as `hard_negative_distances`).
  """
  anchor_positive_distances = tf.convert_to_tensor(anchor_positive_distances)
  if anchor_positive_mining_distances is None:
    anchor_positive_mining_distances = anchor_positive_distances
  negatives, _ = hard_negative_distances(
      anchor_match_distances, negative_indicators, use_semi_hard,
      anchor_positive_mining_distances, anchor_match_mining_distances)
  losses = tf.nn.relu(anchor_positive_distances + margin - negatives)
  losses = tf.where(tf.stop_gradient(losses < losses.dtype.max), losses, tf.zeros_like(losses))
  return tf.reduce_mean(losses), tf.math.count_nonzero(losses), negatives


def active_triplet_loss(loss, num_active, num_anchors):
  """The mean over active triplets of a loss averaged over all anchors (0 when none is)."""
  ratio = tf.cast(num_active, loss.dtype) / tf.cast(num_anchors, loss.dtype)
  return loss / tf.maximum(tf.stop_gradient(ratio), _EPSILON)


def mean_of_found(negative_distances):
  """Mean of the negative distances of anchors that have one (0 when none has)."""
  found = negative_distances < negative_distances.dtype.max
  values = tf.where(found, negative_distances, tf.zeros_like(negative_distances))
  return tf.math.divide_no_nan(tf.reduce_sum(values), tf.reduce_sum(tf.cast(found, values.dtype)))


def gaussian_kl_divergence(means, stddevs, rhs_means=0.0, rhs_stddevs=1.0):
  """KL(N(means, stddevs²) ‖ N(rhs_means, rhs_stddevs²)) of diagonal Gaussians, summed over
  the last axis: [..., d] -> [...]."""
  means, stddevs = tf.convert_to_tensor(means), tf.convert_to_tensor(stddevs)
  rhs_means = _as_dtype(rhs_means, means.dtype)
  rhs_stddevs = _as_dtype(rhs_stddevs, means.dtype)
  return 0.5 * tf.reduce_sum(
      (tf.square(stddevs) + tf.square(rhs_means - means))
      / tf.maximum(tf.square(rhs_stddevs), _EPSILON) - 1.0
      + 2.0 * tf.math.log(tf.maximum(rhs_stddevs, _EPSILON))
      - 2.0 * tf.math.log(tf.maximum(stddevs, _EPSILON)), axis=-1)


def triplet_terms(anchor_positive_distances, anchor_match_distances, negative_indicators,
                  margin=TRIPLET_MARGIN, anchor_positive_mining_distances=None,
                  anchor_match_mining_distances=None):
  """The triplet loss and its statistics with hard and with semi-hard negatives.

  Shapes as `hard_negative_triplet_loss`. Returns scalars:
    'loss': the semi-hard loss averaged over active triplets (what is minimised);
    'semi_hard_loss', 'hard_loss': the losses averaged over all anchors;
    'semi_hard_active_ratio', 'hard_active_ratio': active triplets / anchors;
    'semi_hard_negative_distance', 'hard_negative_distance': mean loss distance of the mined
      negatives, over anchors that have one;
    'positive_distance': mean anchor-positive distance.
  """
  anchor_positive_distances = tf.convert_to_tensor(anchor_positive_distances)
  num_anchors = tf.shape(anchor_positive_distances)[0]
  terms = {}
  for name, semi_hard in (('hard', False), ('semi_hard', True)):
    loss, active, negatives = hard_negative_triplet_loss(
        anchor_positive_distances, anchor_match_distances, negative_indicators, margin,
        semi_hard, anchor_positive_mining_distances, anchor_match_mining_distances)
    terms[f'{name}_loss'] = loss
    terms[f'{name}_active_ratio'] = (tf.cast(active, loss.dtype)
                                     / tf.cast(num_anchors, loss.dtype))
    terms[f'{name}_negative_distance'] = mean_of_found(negatives)
    if semi_hard:
      terms['loss'] = active_triplet_loss(loss, active, num_anchors)
  terms['positive_distance'] = tf.reduce_mean(anchor_positive_distances)
  return terms
