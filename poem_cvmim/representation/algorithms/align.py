"""ALIGN: one embedding, no view split (docs/losses.md)."""

from poem_cvmim.representation import configs
from poem_cvmim.representation import pipeline
from poem_cvmim.representation.algorithms import base


class Align(base.Algorithm):
  """ALIGN: one embedding of width Dp, no view split."""

  NAME = configs.ALGORITHM_ALIGN

  def __init__(self, config, inputs=None, synchronized_batch_norm=False):
    super().__init__(config, inputs, synchronized_batch_norm)
    self._build_encoder_and_critic(config.pose_embedding_dim)

  @property
  def view_dim(self):
    return 0

  def networks(self):
    return {'encoder': self.encoder, 'critic': self.critic}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.critic.trainable_variables

  def compute_losses(self, inputs):
    anchor, positive = inputs[pipeline.ANCHOR], inputs[pipeline.POSITIVE]
    c = self.config
    ((anchor_z, anchor_s, anchor_kl),
     (positive_z, positive_s, positive_kl)) = self.encode_pair(anchor, positive, self.critic)
    t = {'encoder/representation_loss': base.jsd(anchor_s, anchor_z) + base.jsd(positive_s, positive_z),
         'encoder/regularization_loss': c.regularization_loss_weight * (anchor_kl + positive_kl),
         'encoder/view_loss': 2.0 * c.view_loss_weight * base.jsd(anchor_z, positive_z)}
    t['encoder/total_loss'] = sum(t.values())
    return t, {base.ENCODER: t['encoder/total_loss']}
