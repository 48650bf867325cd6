"""INFOMAX (the "DIM" row) and INFONCE (docs/losses.md)."""

from poem_cvmim.representation import configs
from poem_cvmim.representation import networks
from poem_cvmim.representation import pipeline
from poem_cvmim.representation.algorithms import base


class InfoMax(base.Algorithm):
  """INFOMAX (the "DIM" row): JSD estimates of the MI and of the swapped-view MI."""

  NAME = configs.ALGORITHM_INFOMAX

  def __init__(self, config, inputs=None, synchronized_batch_norm=False):
    super().__init__(config, inputs, synchronized_batch_norm)
    dims = config.pose_embedding_dim + config.view_embedding_dim
    self._build_encoder_and_critic(dims, networks.critic_dim(
        config.fusion, config.pose_embedding_dim, config.view_embedding_dim))

  @staticmethod
  def _mi_bound(local, global_):
    return base.jsd(local, global_)

  def networks(self):
    return {'encoder': self.encoder, 'critic': self.critic}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.critic.trainable_variables

  def compute_losses(self, inputs):
    anchor, positive = inputs[pipeline.ANCHOR], inputs[pipeline.POSITIVE]
    c, mi = self.config, self._mi_bound
    ((anchor_z, anchor_s, anchor_kl),
     (positive_z, positive_s, positive_kl)) = self.encode_pair(anchor, positive, self.critic)
    anchor_pose, anchor_view = self._split(anchor_z)
    positive_pose, positive_view = self._split(positive_z)
    t = {'encoder/representation_loss': (
             mi(anchor_s, networks.fuse(anchor_pose, anchor_view, c.fusion))
             + mi(positive_s, networks.fuse(positive_pose, positive_view, c.fusion))),
         'encoder/view_loss': c.view_loss_weight * (
             mi(anchor_s, networks.fuse(positive_pose, anchor_view, c.fusion))
             + mi(positive_s, networks.fuse(anchor_pose, positive_view, c.fusion))),
         'encoder/regularization_loss': c.regularization_loss_weight * (
             anchor_kl + positive_kl)}
    t['encoder/total_loss'] = sum(t.values())
    return t, {base.ENCODER: t['encoder/total_loss']}


class InfoNce(InfoMax):
  """INFONCE: InfoMax with InfoNCE estimates in place of JSD."""

  NAME = configs.ALGORITHM_INFONCE

  @staticmethod
  def _mi_bound(local, global_):
    return base.nce(local, global_)
