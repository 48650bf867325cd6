"""CV-MIM (algorithm `DISENTANGLE`): cross-view MI, CLUB disentanglement, uniform prior.

The losses are written out in docs/losses.md ("The CV-MIM step").
"""

import tensorflow as tf

from poem_cvmim.core import random_keys
from poem_cvmim.representation import configs
from poem_cvmim.representation import losses
from poem_cvmim.representation import mining
from poem_cvmim.representation import networks
from poem_cvmim.representation import pipeline
from poem_cvmim.representation.algorithms import base


def alignment(anchor_pose, positive_pose):
  """Mean over the batch of the squared L2 distance between the two views' z_p."""
  return tf.reduce_mean(tf.reduce_sum(tf.square(anchor_pose - positive_pose), axis=-1))


class Disentangle(base.Algorithm):
  """CV-MIM: cross-view MI, CLUB disentanglement, adversarial uniform prior."""

  NAME = configs.ALGORITHM_DISENTANGLE

  def __init__(self, config, inputs=None, synchronized_batch_norm=False):
    super().__init__(config, inputs, synchronized_batch_norm)
    dims = config.pose_embedding_dim + config.view_embedding_dim
    self._build_encoder_and_critic(dims, networks.critic_dim(
        config.fusion, config.pose_embedding_dim, config.view_embedding_dim))
    if self._uses_estimators():
      self.intra_estimator = networks.LikelihoodEstimator(
          config.view_embedding_dim, self._sync, name='intra_estimator')
      self.inter_estimator = networks.LikelihoodEstimator(
          config.view_embedding_dim, self._sync, name='inter_estimator')
    if config.use_prior:
      self.discriminator = networks.create_discriminator(dims)

  def _uses_estimators(self):
    return self.config.disentangle_loss_weight > 0.0

  def _player_names(self):
    players = [base.ENCODER]
    if self._uses_estimators():
      players.append(base.ESTIMATOR)
    if self.config.use_prior:
      players.append(base.DISCRIMINATOR)
    return tuple(players)

  def networks(self):
    nets = {'encoder': self.encoder, 'critic': self.critic}
    if self._uses_estimators():
      nets.update(intra_estimator=self.intra_estimator, inter_estimator=self.inter_estimator)
    if self.config.use_prior:
      nets['discriminator'] = self.discriminator
    return nets

  def player_variables(self, player):
    if player == base.ENCODER:
      return self.encoder.trainable_variables + self.critic.trainable_variables
    if player == base.ESTIMATOR:
      return (self.intra_estimator.trainable_variables
              + self.inter_estimator.trainable_variables)
    return self.discriminator.trainable_variables

  def _prior(self, pose, view):
    """(generator loss, discriminator loss) of matching sigmoid([z_p, z_v]) to U[0, 1)."""
    fake = tf.sigmoid(tf.concat([pose, view], axis=-1))
    real = random_keys.uniform(tf.shape(fake), dtype=fake.dtype,
                               seed=self.step_key(base.PURPOSE_PRIOR))
    discriminator_loss, _, fake_outputs = losses.discriminator_loss(self.discriminator, real,
                                                                    fake)
    return losses.generator_loss(fake_outputs, 'NS'), discriminator_loss

  @property
  def features(self):
    if not self.config.mining.temporal_negatives:
      return ()
    # The periodic guard compares 3D poses where the records hold them, else the 2D poses one
    # camera saw.
    features = (pipeline.CLIPS, pipeline.FRAMES, pipeline.CAMERAS)
    return features + ((pipeline.POSES_3D,) if self.inputs.profile_3d else ())

  def _temporal_view_loss(self, inputs, anchor_pose, positive_pose):
    """The cross-view term with temporal hard negatives (docs/mining.md), and the mining
    statistics (logged, not losses).

    Each view's z_p is scored against the other view's (positive: the same row) and against
    its own side's (only the hard negatives count there): a frame's hard negatives are its
    clip's far frames seen by its own camera, whichever side of their pair they are on."""
    c = self.config
    clips, frames = base.gather(inputs[pipeline.CLIPS]), base.gather(inputs[pipeline.FRAMES])
    cameras = base.gather(inputs[pipeline.CAMERAS])
    repeated = base.repeated_pose_pairs(inputs, c, clips, cameras,
                                        within_clip=c.mining.hard_negative_scope == 'clip')
    def weights(local, global_, others):
      return mining.temporal_negative_weights(
          clips, frames, cameras[:, local], cameras[:, global_], c.mining.negative_gap, c.mining.ignore_gap,
          repeated, c.mining.hard_negative_weight, others, anchor_pose.dtype, c.mining.hard_negative_scope)
    loss = (base.jsd_with_own_side(anchor_pose, positive_pose, weights(0, 1, 1.0),
                                   weights(0, 0, 0.0))
            + base.jsd_with_own_side(positive_pose, anchor_pose, weights(1, 0, 1.0),
                                     weights(1, 1, 0.0)))
    far = mining.temporal_negatives(clips, frames, c.mining.negative_gap)
    kept = ~repeated & ~mining.ignored(clips, frames, c.mining.ignore_gap)
    hard = lambda u, v: kept & mining.hard_negatives(clips, frames, cameras[:, u], cameras[:, v],
                                                     c.mining.negative_gap, c.mining.hard_negative_scope)
    per_anchor = lambda mask: tf.reduce_mean(tf.reduce_sum(tf.cast(mask, loss.dtype), axis=1))
    statistics = {
        'mining/temporal_pairs_per_anchor': per_anchor(far),
        'mining/hard_negatives_per_anchor': per_anchor(hard(0, 1)) + per_anchor(hard(0, 0)),
        'mining/periodic_pairs_removed_per_anchor': per_anchor(far & repeated)}
    return c.view_loss_weight * loss, statistics

  def _club(self, estimator, x, y):
    mean, logvar = estimator(x, training=True)
    return (losses.contrastive_log_ratio(mean, logvar, y),
            losses.log_likelihood(mean, logvar, y))

  def compute_losses(self, inputs):
    anchor, positive = inputs[pipeline.ANCHOR], inputs[pipeline.POSITIVE]
    c = self.config
    ((anchor_z, anchor_s, anchor_kl),
     (positive_z, positive_s, positive_kl)) = self.encode_pair(anchor, positive, self.critic)
    anchor_pose, anchor_view = self._split(anchor_z)
    positive_pose, positive_view = self._split(positive_z)
    t = {}
    t['encoder/representation_loss'] = (
        base.jsd(anchor_s, networks.fuse(anchor_pose, anchor_view, c.fusion))
        + base.jsd(positive_s, networks.fuse(positive_pose, positive_view, c.fusion)))
    t['encoder/regularization_loss'] = c.regularization_loss_weight * (anchor_kl + positive_kl)
    statistics = {}
    if c.mining.temporal_negatives:
      t['encoder/view_loss'], statistics = self._temporal_view_loss(inputs, anchor_pose,
                                                                    positive_pose)
    else:
      t['encoder/view_loss'] = 2.0 * c.view_loss_weight * base.jsd(anchor_pose, positive_pose)
    if c.alignment_loss_weight:
      t['encoder/alignment_loss'] = c.alignment_loss_weight * alignment(anchor_pose,
                                                                        positive_pose)
    encoder_total = sum(t.values())
    # How far the cross-view MI term is from its optimum (0 = anchors and positives perfectly
    # matched); logged only, not part of any loss.
    t['encoder/view_loss_gap'] = (t['encoder/view_loss']
                                  - 2.0 * c.view_loss_weight * losses.JSD_MINIMUM)
    totals = {}
    if c.use_prior:
      anchor_prior, anchor_d = self._prior(anchor_pose, anchor_view)
      positive_prior, positive_d = self._prior(positive_pose, positive_view)
      t['encoder/prior_loss'] = anchor_prior + positive_prior
      encoder_total += t['encoder/prior_loss']
      totals[base.DISCRIMINATOR] = t['discriminator/total_loss'] = anchor_d + positive_d
    if self._uses_estimators():
      anchor_bound, anchor_ll = self._club(self.intra_estimator, anchor_pose, anchor_view)
      positive_bound, positive_ll = self._club(self.intra_estimator, positive_pose,
                                               positive_view)
      inter_bound, inter_ll = self._club(self.inter_estimator, anchor_view, positive_view)
      t['encoder/intra_bound_loss'] = c.disentangle_loss_weight * (anchor_bound +
                                                                    positive_bound)
      t['encoder/inter_bound_loss'] = c.disentangle_loss_weight * inter_bound
      t['encoder/disentangle_loss'] = (t['encoder/intra_bound_loss']
                                       + 2.0 * t['encoder/inter_bound_loss'])
      encoder_total += t['encoder/disentangle_loss']
      t['estimator/anchor_intra_likelihood_loss'] = -anchor_ll
      t['estimator/positive_intra_likelihood_loss'] = -positive_ll
      t['estimator/inter_likelihood_loss'] = -inter_ll
      totals[base.ESTIMATOR] = t['estimator/total_loss'] = -anchor_ll - positive_ll - 2.0 * inter_ll
    totals[base.ENCODER] = t['encoder/total_loss'] = encoder_total
    t.update(statistics)
    return t, totals
