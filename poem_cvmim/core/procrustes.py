"""Procrustes alignment and the pose distances built on it (docs/losses.md, "Pr-VIPE").

The similarity transform (rotation, one scale, translation) that best maps a source pose onto
a target pose in the least-squares sense, with reflections prevented, and the mean per-joint
position error (MPJPE) after that alignment. Pr-VIPE labels two poses as a negative pair when
their aligned MPJPE is at least 0.1 (in normalised 3D units); the retrieval protocol counts a
retrieved pose as a hit below the same threshold.

TensorFlow, any leading shape `[...]`; points are `[..., J, D]` (D = 3 for poses).
"""

from poem_cvmim.core import lazy_tensorflow

tf = lazy_tensorflow.deferred


def standardize(points):
  """Centres points on their mean and scales them to unit Frobenius norm.

  Returns (standardized [..., J, D], offsets [..., 1, D], scales [..., 1, 1]).
  """
  points = tf.convert_to_tensor(points)
  offsets = tf.reduce_mean(points, axis=-2, keepdims=True)
  centred = points - offsets
  scales = tf.sqrt(tf.reduce_sum(tf.square(centred), axis=[-2, -1], keepdims=True))
  return centred / scales, offsets, scales


def alignment(target, source):
  """The similarity transform taking `source` onto `target` (Umeyama / Kabsch).

  With A = T̂ᵀŜ of the standardised points and A = U diag(s) Vᵀ, the rotation (applied as
  points @ R) is R = V S Uᵀ, where S flips the last singular direction when det(V Uᵀ) < 0 so
  that R is a proper rotation; the scale is Σ s·S times ‖T‖ / ‖S‖.

  Returns (rotations [..., D, D], scales [..., 1, 1], translations [..., 1, D]) such that
  `translations + scales * source @ rotations` is the aligned source.
  """
  target, source = tf.convert_to_tensor(target), tf.convert_to_tensor(source)
  standard_target, target_offsets, target_scales = standardize(target)
  standard_source, source_offsets, source_scales = standardize(source)
  covariance = tf.linalg.matmul(standard_target, standard_source, transpose_a=True)
  singular_values, u, v = tf.linalg.svd(covariance)
  signs = tf.sign(tf.linalg.det(tf.linalg.matmul(v, u, transpose_b=True)))
  dim = tf.shape(covariance)[-1]
  last = tf.one_hot(dim - 1, dim, dtype=signs.dtype)
  flips = 1.0 - (1.0 - signs[..., tf.newaxis]) * last  # [..., D]: 1, ..., 1, sign
  rotations = tf.linalg.matmul(v * flips[..., tf.newaxis, :], u, transpose_b=True)
  trace = tf.reduce_sum(singular_values * flips, axis=-1)[..., tf.newaxis, tf.newaxis]
  scales = trace * target_scales / source_scales
  translations = target_offsets - scales * tf.linalg.matmul(source_offsets, rotations)
  return rotations, scales, translations


def align(target, source):
  """`source` [..., J, D] moved onto `target` by `alignment`."""
  rotations, scales, translations = alignment(target, source)
  return translations + scales * tf.linalg.matmul(tf.convert_to_tensor(source), rotations)


def mpjpe(lhs, rhs):
  """Mean over joints of the L2 distance between corresponding joints: [..., J, D] -> [...]."""
  return tf.reduce_mean(tf.norm(tf.convert_to_tensor(lhs) - rhs, axis=-1), axis=-1)


def procrustes_aligned_mpjpe(target, source):
  """MPJPE between `target` and `source` aligned onto it: [..., J, 3] x [..., J, 3] -> [...].

  Invariant to any rotation, positive scale and translation of `source`. Not symmetric in
  general (the scale is fitted to the target).
  """
  return mpjpe(align(target, source), target)


def pairwise_procrustes_aligned_mpjpe(targets, sources):
  """The [N, M] matrix of `procrustes_aligned_mpjpe(targets[i], sources[j])`."""
  targets, sources = tf.convert_to_tensor(targets), tf.convert_to_tensor(sources)
  n, m = tf.shape(targets)[0], tf.shape(sources)[0]
  tiled_targets = tf.repeat(targets[:, tf.newaxis], m, axis=1)  # [N, M, J, D]
  tiled_sources = tf.repeat(sources[tf.newaxis], n, axis=0)
  return procrustes_aligned_mpjpe(tiled_targets, tiled_sources)
