"""Pr-VIPE (algorithm `PR_VIPE`; Sun et al., ECCV 2020): a probabilistic view-invariant pose
embedding trained with triplets whose negatives come from 3D pose distances (docs/losses.md).

With partial 3D (`fraction_with_3d` < 1, docs/mcss.md): only the clips that keep their 3D
(`lifting.keeps_3d`) take negatives from 3D distances, among themselves; with
`temporal_negatives` the other rows take their clip's far frames as negatives (MCSS's negatives
from time), without it they have none.
"""

import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import random_keys
from poem_cvmim.representation import lifting
from poem_cvmim.representation import mining
from poem_cvmim.representation import configs
from poem_cvmim.representation import networks
from poem_cvmim.representation import pipeline
from poem_cvmim.representation import triplet_losses
from poem_cvmim.representation.algorithms import base


class PrVipe(base.Algorithm):
  """One Gaussian embedding N(mean, stddev²) per pose; the mean is the pose embedding z_p."""

  NAME = configs.ALGORITHM_PR_VIPE

  def __init__(self, config, inputs=None, synchronized_batch_norm=False):
    super().__init__(config, inputs, synchronized_batch_norm)
    if not self.inputs.profile_3d:
      raise errors.InputError('PR_VIPE mines negatives from 3D poses and needs a 3D profile.')
    self.encoder = networks.create_probabilistic_encoder(
        config.pose_embedding_dim, config.dropout_rate, self._sync)
    self.matching = networks.MatchingSigmoid(config.pr_vipe.sigmoid_raw_a_initial,
                                             config.pr_vipe.sigmoid_b_initial, name='matching_sigmoid')

  @property
  def view_dim(self):
    return 0

  @property
  def features(self):
    if self.config.mcss.fraction_with_3d < 1.0 or self.config.mining.temporal_negatives:
      return (pipeline.POSES_3D, pipeline.CLIPS, pipeline.FRAMES, pipeline.CAMERAS)
    return (pipeline.POSES_3D,)

  def negatives(self, inputs):
    """[B, B] bool: match j is a negative of anchor i (module docstring)."""
    c = self.config
    poses_3d = base.gather(inputs[pipeline.POSES_3D])
    # Negatives: pairs whose 3D poses differ by at least the threshold after alignment.
    negatives = mining.pose_negatives(poses_3d[:, 0], poses_3d[:, 1],
                                      c.pr_vipe.min_negative_keypoint_mpjpe)
    if pipeline.CLIPS not in self.features:
      return negatives
    clips = base.gather(inputs[pipeline.CLIPS])
    labelled = lifting.keeps_3d(clips, c.mcss.fraction_with_3d) & lifting.has_3d(poses_3d[:, 0])
    both = labelled[:, tf.newaxis] & labelled[tf.newaxis]
    from_time = tf.zeros_like(negatives)
    if c.mining.temporal_negatives:
      frames, cameras = base.gather(inputs[pipeline.FRAMES]), base.gather(inputs[pipeline.CAMERAS])
      repeated = base.repeated_pose_pairs(inputs, c, clips, cameras, use_3d=False)
      from_time = (mining.temporal_negatives(clips, frames, c.mining.negative_gap) & ~repeated
                   & ~mining.ignored(clips, frames, c.mining.ignore_gap))
    return tf.where(labelled[:, tf.newaxis], negatives & both, from_time)

  def networks(self):
    return {'encoder': self.encoder, 'matching_sigmoid': self.matching}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.matching.trainable_variables

  def _distributions(self, inputs, purpose):
    """Gathered (means [B, d], stddevs [B, d], samples [B, K, d]) of one view's embeddings;
    the samples are reparameterised with noise keyed by the step and the example's place in
    the global batch (so that any number of replicas draws the same samples)."""
    outputs, _ = self.encoder(inputs, training=True)
    means, stddevs = tf.split(outputs, 2, axis=-1)
    shape = tf.concat([tf.shape(means)[:1], [self.config.pr_vipe.num_embedding_samples],
                       tf.shape(means)[1:]], axis=0)
    noise = random_keys.global_normal(shape, random_keys.derive(
        self.global_step_key(base.PURPOSE_SAMPLES), purpose), means.dtype)
    samples = means[:, tf.newaxis] + stddevs[:, tf.newaxis] * noise
    return base.gather(means), base.gather(stddevs), base.gather(samples)

  def compute_losses(self, inputs):
    """inputs also hold `pipeline.POSES_3D`: the pairs' normalised 3D poses [b, 2, J3, 3]."""
    if pipeline.POSES_3D not in inputs:
      raise errors.InputError(f'PR_VIPE needs the 3D poses of the pairs ({pipeline.POSES_3D}).')
    anchor, positive = inputs[pipeline.ANCHOR], inputs[pipeline.POSITIVE]
    c = self.config
    anchor_means, anchor_stddevs, anchor_samples = self._distributions(anchor, 0)
    positive_means, positive_stddevs, positive_samples = self._distributions(positive, 1)
    negatives = self.negatives(inputs)
    raw_a, b = self.matching.raw_a, self.matching.b
    matrix = lambda x, y: triplet_losses.matching_distance_matrix(x, y, raw_a, b)
    # The loss compares the samples and mines on the same distances (or on the means', one
    # "sample" each). Anchor-positive distances are the matrices' diagonals: the very numbers
    # the negatives are compared with.
    distances = matrix(anchor_samples, positive_samples)
    mined = (matrix(anchor_means[:, tf.newaxis], positive_means[:, tf.newaxis])
             if c.pr_vipe.mine_on_means else distances)
    triplet = triplet_losses.triplet_terms(
        tf.linalg.diag_part(distances), distances, negatives, c.pr_vipe.triplet_loss_margin,
        anchor_positive_mining_distances=tf.linalg.diag_part(mined),
        anchor_match_mining_distances=mined)
    kl = tf.reduce_mean(triplet_losses.gaussian_kl_divergence(
        tf.concat([anchor_means, positive_means], 0),
        tf.concat([anchor_stddevs, positive_stddevs], 0)))
    t = {'encoder/triplet_loss': triplet['loss'],
         'encoder/positive_pairwise_loss': (c.pr_vipe.positive_pairwise_loss_weight
                                            * triplet['positive_distance']),
         'encoder/kl_regularization_loss': c.regularization_loss_weight * kl}
    t['encoder/total_loss'] = sum(t.values())
    t.update({f'triplet/{name}': value for name, value in triplet.items() if name != 'loss'})
    t['triplet/negative_pair_fraction'] = tf.reduce_mean(tf.cast(negatives, kl.dtype))
    t['embedding/mean_stddev'] = tf.reduce_mean(anchor_stddevs)
    t.update({'matching/a': triplet_losses.matching_slope(raw_a), 'matching/b': tf.identity(b)})
    return t, {base.ENCODER: t['encoder/total_loss']}
