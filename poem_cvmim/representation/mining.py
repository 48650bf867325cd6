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
- `temporal_negative_weights`: the weights of the cross-view term with temporal negatives
  (the far frames of the clip seen by the same camera weighted), `close_poses_3d` /
  `close_poses_2d`: repeated poses of periodic motion, never negatives.

TensorFlow ops, usable inside the compiled step; each is tested against a NumPy loop.
"""

from poem_cvmim.core import errors
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import procrustes

tf = lazy_tensorflow.deferred


HARD_NEGATIVE_SCOPES = ('clip', 'camera')


def positives(batch_size) -> 'tf.Tensor':
  """[B, B] bool: the diagonal (anchor i and positive i are one instant)."""
  return tf.cast(tf.eye(batch_size), tf.bool)


def same_clip(clips) -> 'tf.Tensor':
  """[B, B] bool: rows i and j come from one performance."""
  clips = tf.convert_to_tensor(clips)
  return tf.equal(clips[:, tf.newaxis], clips[tf.newaxis, :])


def same_cameras(cameras_i, cameras_j) -> 'tf.Tensor':
  """[B, B] bool: view i and view j were seen by one camera. Camera ids below 0 are unknown
  (a pose projected by a random virtual camera) and match nothing."""
  known = (cameras_i >= 0)[:, tf.newaxis] & (cameras_j >= 0)[tf.newaxis, :]
  return known & tf.equal(cameras_i[:, tf.newaxis], cameras_j[tf.newaxis, :])


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


def close_poses_2d(anchors, positives_, cameras, clips, max_distance: float,
                   within_clip: bool = True) -> 'tf.Tensor':
  """[B, B] bool: off-diagonal pairs (i, j) of one clip of which some view of row i and some
  view of row j were seen by the same camera within `max_distance` (`pose_distances_2d`).

  In one camera 2D similarity is pose similarity, so this stands in for `close_poses_3d`
  where the records hold no 3D. Rows whose views share no camera are never judged close.

  anchors, positives_: normalised 2D poses [B, J, 2]; cameras [B, 2] (anchor's, positive's);
  clips [B]. within_clip: only pairs of one clip (else any two rows: one fixed camera across
  recordings).
  """
  views = (anchors, positives_)
  close = tf.zeros([tf.shape(anchors)[0]] * 2, tf.bool)
  for u in (0, 1):
    for v in (0, 1):
      close |= same_cameras(cameras[:, u], cameras[:, v]) & (pose_distances_2d(views[u], views[v]) < max_distance)
  if within_clip:
    close &= same_clip(clips)
  return close & ~positives(tf.shape(close)[0])


def hard_negatives(clips, frames, local_cameras, global_cameras, negative_gap: int,
                   scope: str = 'clip') -> 'tf.Tensor':
  """[B, B] bool: global view j is a hard negative of local view i: seen by the same camera,
  and of the same clip at least `negative_gap` frames away (scope 'clip', MCSS) or of another
  clip (scope 'camera' adds these)."""
  if scope not in HARD_NEGATIVE_SCOPES:
    raise errors.InputError(f'Unknown hard negative scope {scope!r}; valid: '
                            f'{", ".join(HARD_NEGATIVE_SCOPES)}.')
  hard = temporal_negatives(clips, frames, negative_gap)
  if scope == 'camera':
    hard |= ~same_clip(clips)
  return hard & same_cameras(local_cameras, global_cameras)


def temporal_negative_weights(clips, frames, local_cameras, global_cameras, negative_gap: int,
                              ignore_gap: int, excluded=None, hard_weight: float = 1.0,
                              others: float = 1.0, dtype='float32',
                              scope: str = 'clip') -> 'tf.Tensor':
  """[B, B] weights of global view j as a negative of local view i with temporal negatives.

  MCSS's hard negative is the anchor's own camera at another time of its clip: same subject,
  camera and background, another pose. So: `hard_weight` where rows i and j are one clip at
  least `negative_gap` frames apart *and* the two views were seen by one camera
  (`local_cameras[i] == global_cameras[j]`); 0 on the diagonal, for the same clip closer than
  `ignore_gap` frames and where `excluded` (repeated poses); `others` elsewhere (1: the
  batch's other pairs stay ordinary negatives; 0: only the hard ones count).

  scope: 'clip' (MCSS: the hard negatives are the clip's own far frames) or 'camera' (also
  every other clip's frames that the same camera saw).
  """
  hard = hard_negatives(clips, frames, local_cameras, global_cameras, negative_gap, scope)
  left_out = ignored(clips, frames, ignore_gap)
  if excluded is not None:
    left_out |= excluded
  batch_size = tf.shape(clips)[0]
  weights = tf.cast(others, dtype) * (1.0 - tf.eye(batch_size, dtype=dtype))
  weights = tf.where(hard, tf.cast(hard_weight, dtype) * tf.ones_like(weights), weights)
  return tf.where(left_out, tf.zeros_like(weights), weights)
