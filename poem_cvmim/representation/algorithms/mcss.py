"""MCSS (algorithm `MCSS`; Mitra et al., CVPR 2020): a pose embedding learned from synchronised
multi-view video, and a 3D pose head on it trained from the few clips that keep their 3D
(docs/mcss.md).
"""

import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import random_keys
from poem_cvmim.representation import lifting
from poem_cvmim.representation import mining
from poem_cvmim.representation import configs
from poem_cvmim.representation import networks
from poem_cvmim.representation import pipeline
from poem_cvmim.representation import triplet_losses
from poem_cvmim.representation.algorithms import base

# The 3D head: the encoder's residual MLP, smaller (one residual block of 1024).
_HEAD_RESIDUAL_BLOCKS = 1


class Mcss(base.Algorithm):
  """Encoder E (the project's residual MLP, embedding of width `pose_embedding_dim`, used at
  unit length) and a 3D head H on the embedding; one optimizer for both."""

  NAME = configs.ALGORITHM_MCSS

  def __init__(self, config, inputs=None, synchronized_batch_norm=False):
    super().__init__(config, inputs, synchronized_batch_norm)
    if not self.inputs.profile_3d:
      raise errors.InputError('MCSS trains a 3D head and needs a 3D profile.')
    self.encoder = networks.create_encoder(config.pose_embedding_dim, config.embedder,
                                           config.dropout_rate, self._sync,
                                           gaussian_logvar=config.gaussian_logvar)
    self.num_joints_3d = keypoints.get_profile(self.inputs.profile_3d).keypoint_num
    self.head = networks.SimpleModel(
        (self.num_joints_3d, 3), num_residual_linear_blocks=_HEAD_RESIDUAL_BLOCKS,
        dropout_rate=config.dropout_rate, synchronized_batch_norm=self._sync, name='head')

  @property
  def view_dim(self):
    return 0

  @property
  def features(self):
    return (pipeline.POSES_3D, pipeline.CLIPS, pipeline.FRAMES, pipeline.CAMERAS)

  def networks(self):
    return {'encoder': self.encoder, 'head': self.head}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.head.trainable_variables

  def embed(self, inputs):
    """(unit-length z_p [N, d], an empty z_v [N, 0])."""
    outputs, _ = self.encoder(inputs, training=False)
    return tf.math.l2_normalize(outputs, axis=-1), outputs[:, :0]

  def lift(self, inputs):
    """Inference 3D poses [N, J3, 3] (normalised, body frame) of normalised 2D poses."""
    embeddings, _ = self.embed(inputs)
    return self.head(embeddings, training=False)[0]

  def _multiview_loss(self, inputs, anchor_z, positive_z):
    """Semi-hard triplets: each view's embedding against the other view's of its row
    (positive) and every view of its clip's far rows (negatives, periodic repeats left out)."""
    c = self.config
    clips, frames = base.gather(inputs[pipeline.CLIPS]), base.gather(inputs[pipeline.FRAMES])
    cameras = base.gather(inputs[pipeline.CAMERAS])
    # The 2D guard even where records hold 3D: the clips without 3D labels must not
    # learn from it.
    repeated = base.repeated_pose_pairs(inputs, c, clips, cameras, use_3d=False)
    negatives = (mining.temporal_negatives(clips, frames, c.mining.negative_gap) & ~repeated
                 & ~mining.ignored(clips, frames, c.mining.ignore_gap))
    negatives = tf.tile(negatives, [2, 2])  # anchors [views 0; 1] x matches [views 0; 1]
    anchors = tf.concat([anchor_z, positive_z], axis=0)
    positives = tf.concat([positive_z, anchor_z], axis=0)
    positive_distances = tf.norm(anchors - positives, axis=-1)
    distances = _euclidean_matrix(anchors, anchors)
    terms = triplet_losses.triplet_terms(positive_distances, distances, negatives,
                                         c.mcss.mcss_margin)
    has_negative = tf.reduce_any(negatives, axis=1)
    terms['anchors_with_negatives'] = tf.reduce_mean(tf.cast(has_negative, anchors.dtype))
    return terms

  def _lifting_loss(self, inputs, embeddings):
    """MPJPE of the head's 3D (body frame) on the rows whose clip keeps its 3D; (loss, the
    fraction of rows it covers)."""
    c = self.config
    poses_3d = base.gather(inputs[pipeline.POSES_3D])  # [B, 2, J3, 3]
    clips = base.gather(inputs[pipeline.CLIPS])
    labelled = lifting.keeps_3d(clips, c.mcss.fraction_with_3d)[:, tf.newaxis] & lifting.has_3d(poses_3d)
    labelled = tf.reshape(tf.transpose(labelled), [-1])  # [views 0; views 1]
    targets = tf.concat([poses_3d[:, 0], poses_3d[:, 1]], axis=0)
    # Unlabelled rows get a harmless target (their error is masked out, and must not be NaN).
    targets = tf.where(labelled[:, tf.newaxis, tf.newaxis], targets, tf.zeros_like(targets))
    # Dropout keys 0-3 are E's and the critic's (`encode_pair`); the head's is 4.
    key = random_keys.derive(self.step_key(base.PURPOSE_DROPOUT), 4)
    predicted, _ = self.head(embeddings, training=True, seed=key)
    targets = lifting.body_frame(tf.cast(targets, predicted.dtype), self.inputs.profile_3d)
    errors_ = lifting.mpjpe(predicted, targets)
    weights = tf.cast(labelled, errors_.dtype)
    loss = tf.math.divide_no_nan(tf.reduce_sum(errors_ * weights), tf.reduce_sum(weights))
    return loss, tf.reduce_mean(weights)

  def compute_losses(self, inputs):
    """inputs also hold the pairs' normalised 3D poses and the clip, frame and camera of each
    view (`self.features`)."""
    missing = [name for name in self.features if name not in inputs]
    if missing:
      raise errors.InputError(f'MCSS needs the input features {missing}.')
    anchor, positive = inputs[pipeline.ANCHOR], inputs[pipeline.POSITIVE]
    c = self.config
    (anchor_out, _, _), (positive_out, _, _) = self.encode_pair(anchor, positive)
    anchor_z = tf.math.l2_normalize(anchor_out, axis=-1)
    positive_z = tf.math.l2_normalize(positive_out, axis=-1)
    triplet = self._multiview_loss(inputs, anchor_z, positive_z)
    lifting_loss, labelled = self._lifting_loss(
        inputs, tf.concat([anchor_z, positive_z], axis=0))
    t = {'encoder/multiview_loss': c.mcss.multiview_loss_weight * triplet['loss'],
         'encoder/lifting_loss': c.mcss.lifting_loss_weight * lifting_loss}
    t['encoder/total_loss'] = sum(t.values())
    t['lifting/mpjpe'] = lifting_loss
    t['lifting/rows_with_3d'] = labelled
    t.update({f'triplet/{name}': value for name, value in triplet.items() if name != 'loss'})
    return t, {base.ENCODER: t['encoder/total_loss']}


def _euclidean_matrix(lhs, rhs):
  """[N, M] Euclidean distances of rows [N, d] x [M, d] (0 where equal, with a gradient)."""
  squared = (tf.reduce_sum(tf.square(lhs), -1)[:, tf.newaxis]
             + tf.reduce_sum(tf.square(rhs), -1)[tf.newaxis] - 2.0 * tf.matmul(lhs, rhs,
                                                                              transpose_b=True))
  return tf.sqrt(tf.maximum(squared, 1e-12))
