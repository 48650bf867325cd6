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
