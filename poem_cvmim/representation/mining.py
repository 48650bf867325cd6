"""Which pairs of a batch are positives, negatives or ignored: pure [B, B] masks.

Row i is anchor i, column j is positive j (the batch's other view); the contrastive and
triplet losses read these masks instead of building their own. Inputs are per-row metadata of
the pair records, aligned with the rows: `clips` [B] (any integer or string id of the
performance, the same for every camera), `frames` [B] (frame index within the clip), `cameras`
[B], and, where the records hold them, 3D poses.

- `positives`: the diagonal, the same instant seen by the other camera.
- `pose_negatives`: Pr-VIPE's rule, pairs whose 3D poses differ by at least a threshold after
  Procrustes alignment (NP-MPJPE).
- `temporal_negatives` (MCSS): the same clip at least `negative_gap` frames away: same subject,
  same cameras, same everything but the pose.
- `ignored`: the same clip closer than `ignore_gap` frames (too alike to be told apart), never
  the diagonal.

TensorFlow ops, usable inside the compiled step; each is tested against a NumPy loop.
"""

from poem_cvmim.core import errors
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import procrustes

tf = lazy_tensorflow.tf


def positives(batch_size) -> 'tf.Tensor':
  """[B, B] bool: the diagonal (anchor i and positive i are one instant)."""
  return tf.cast(tf.eye(batch_size), tf.bool)


def same_clip(clips) -> 'tf.Tensor':
  """[B, B] bool: rows i and j come from one performance."""
  clips = tf.convert_to_tensor(clips)
  return tf.equal(clips[:, tf.newaxis], clips[tf.newaxis, :])


def frame_gaps(frames) -> 'tf.Tensor':
  """[B, B] int64: |frame_i - frame_j|."""
  frames = tf.cast(frames, tf.int64)
  return tf.abs(frames[:, tf.newaxis] - frames[tf.newaxis, :])


def temporal_negatives(clips, frames, negative_gap: int) -> 'tf.Tensor':
  """[B, B] bool: the same clip, at least `negative_gap` frames apart (MCSS's hard
  negatives)."""
  if negative_gap < 1:
    raise errors.InputError(f'negative_gap must be at least 1, got {negative_gap}.')
  return same_clip(clips) & (frame_gaps(frames) >= negative_gap)


def ignored(clips, frames, ignore_gap: int) -> 'tf.Tensor':
  """[B, B] bool: off-diagonal pairs of the same clip closer than `ignore_gap` frames: neither
  positives nor negatives."""
  if ignore_gap < 0:
    raise errors.InputError(f'ignore_gap must be >= 0, got {ignore_gap}.')
  close = same_clip(clips) & (frame_gaps(frames) < ignore_gap)
  return close & ~positives(tf.shape(close)[0])


def pose_negatives(anchor_poses_3d, positive_poses_3d, min_mpjpe: float) -> 'tf.Tensor':
  """[B, B] bool: NP-MPJPE(anchor_i, positive_j) >= `min_mpjpe` (Pr-VIPE's negatives).

  anchor_poses_3d, positive_poses_3d: normalised 3D poses [B, J, 3] of the two views.
  """
  return procrustes.pairwise_procrustes_aligned_mpjpe(anchor_poses_3d,
                                                      positive_poses_3d) >= min_mpjpe


def close_poses_3d(anchor_poses_3d, positive_poses_3d, max_mpjpe: float,
                   candidates=None) -> 'tf.Tensor':
  """[B, B] bool: off-diagonal pairs whose 3D poses are within NP-MPJPE `max_mpjpe`
  (`pose_negatives`' measure) — the same pose again (a periodic motion repeats it far in
  time): never negatives.

  candidates: Optional [B, B] bool: only these pairs are measured (the others are not close);
  the temporal negatives' guard measures the pairs of one clip, a few per row, where the whole
  matrix would cost B² alignments."""
  batch_size = tf.shape(anchor_poses_3d)[0]
  if candidates is None:
    close = ~pose_negatives(anchor_poses_3d, positive_poses_3d, max_mpjpe)
  else:
    pairs = tf.where(candidates)  # [N, 2]
    distances = procrustes.procrustes_aligned_mpjpe(tf.gather(anchor_poses_3d, pairs[:, 0]),
                                                    tf.gather(positive_poses_3d, pairs[:, 1]))
    close = tf.scatter_nd(pairs, distances < max_mpjpe, tf.cast([batch_size] * 2, tf.int64))
  return close & ~positives(batch_size)


def pose_distances_2d(a, b) -> 'tf.Tensor':
  """[B, B]: mean over joints of the Euclidean distance between a_i and b_j, normalised 2D
  poses [B, J, 2]."""
  difference = a[:, tf.newaxis] - b[tf.newaxis, :]  # [B, B, J, 2]
  return tf.reduce_mean(tf.norm(difference, axis=-1), axis=-1)


def close_poses_2d(anchors, positives_, cameras, clips, max_distance: float) -> 'tf.Tensor':
  """[B, B] bool: off-diagonal pairs (i, j) of one clip of which some view of row i and some
  view of row j were seen by the same camera within `max_distance` (`pose_distances_2d`).

  In one camera 2D similarity is pose similarity, so this stands in for `close_poses_3d`
  where the records hold no 3D. Rows whose views share no camera are never judged close.

  anchors, positives_: normalised 2D poses [B, J, 2]; cameras [B, 2] (anchor's, positive's);
  clips [B].
  """
  views = (anchors, positives_)
  close = tf.zeros([tf.shape(anchors)[0]] * 2, tf.bool)
  for u in (0, 1):
    for v in (0, 1):
      same_camera = tf.equal(cameras[:, u][:, tf.newaxis], cameras[:, v][tf.newaxis, :])
      close |= same_camera & (pose_distances_2d(views[u], views[v]) < max_distance)
  return close & same_clip(clips) & ~positives(tf.shape(close)[0])


def negative_weights(batch_size, hard=None, excluded=None, hard_weight: float = 1.0,
                     dtype='float32') -> 'tf.Tensor':
  """[B, B] weights of the pairs as negatives: 0 on the diagonal and where `excluded`,
  `hard_weight` where `hard` (and not excluded), 1 elsewhere.

  The contrastive losses average their negative terms with these weights
  (`losses.fenchel_dual_loss`, `losses.info_nce_loss`)."""
  weights = 1.0 - tf.eye(batch_size, dtype=dtype)
  if hard is not None:
    weights = tf.where(hard, tf.cast(hard_weight, dtype) * weights, weights)
  if excluded is not None:
    weights = tf.where(excluded, tf.zeros_like(weights), weights)
  return weights
