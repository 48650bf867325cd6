"""Auto-encoder baselines: AE, VAE and beta-VAE (docs/losses.md)."""

import tensorflow as tf

from poem_cvmim.representation import configs
from poem_cvmim.representation import networks
from poem_cvmim.representation import pipeline
from poem_cvmim.representation.algorithms import base


class AutoEncoder(base.Algorithm):
  """AE (POINT embedder), VAE (GAUSSIAN), beta-VAE (GAUSSIAN, weight beta)."""

  NAME = configs.ALGORITHM_AUTOENCODER

  def __init__(self, config, inputs=None, synchronized_batch_norm=False):
    super().__init__(config, inputs, synchronized_batch_norm)
    dims = config.pose_embedding_dim + config.view_embedding_dim
    self.encoder = networks.create_encoder(dims, config.embedder, config.dropout_rate, self._sync,
                                           gaussian_logvar=config.gaussian_logvar)
    self.decoder = networks.SimpleModel((self.inputs.num_joints, 2), dropout_rate=config.dropout_rate,
                                      synchronized_batch_norm=self._sync, name='decoder')

  def networks(self):
    return {'encoder': self.encoder, 'decoder': self.decoder}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.decoder.trainable_variables

  def _mse(self, targets, pose, view):
    reconstruction, _ = self.decoder(tf.concat([pose, view], axis=-1), training=True)
    return tf.reduce_mean(tf.square(targets - reconstruction))

  def compute_losses(self, inputs):
    anchor, positive = inputs[pipeline.ANCHOR], inputs[pipeline.POSITIVE]
    (anchor_z, _, anchor_kl), (positive_z, _, positive_kl) = self.encode_pair(anchor, positive)
    anchor, positive = base.gather(anchor), base.gather(positive)
    anchor_pose, anchor_view = self._split(anchor_z)
    positive_pose, positive_view = self._split(positive_z)
    t = {'encoder/reconstruction_loss': (self._mse(anchor, anchor_pose, anchor_view)
                                         + self._mse(positive, positive_pose, positive_view)),
         'encoder/cross_reconstruction_loss': (
             self._mse(anchor, positive_pose, anchor_view)
             + self._mse(positive, anchor_pose, positive_view)),
         'encoder/regularization_loss': self.config.regularization_loss_weight * (
             anchor_kl + positive_kl)}
    t['encoder/total_loss'] = sum(t.values())
    return t, {base.ENCODER: t['encoder/total_loss']}
