"""Representation-learning algorithms (SPEC §5.4-5.5): CV-MIM and the baselines.

An algorithm owns its networks and its players. A player (`encoder`, `estimator`,
`discriminator`) has its own tape, optimizer and variable list, named as in the paper.

Replicas: the encoder and critic run on the replica's own slice of the batch; their outputs are
gathered across replicas (`gather`) and every loss is computed on the whole global batch, so
contrastive negatives span the global batch and a loss does not depend on how many replicas
share it. Gradients are summed over replicas by the optimizers, so each replica divides its
(global) loss by the number of replicas.
"""

import abc
import contextlib

import keras
import tensorflow as tf

from poem_cvmim import configs
from poem_cvmim import losses
from poem_cvmim import models

ENCODER, ESTIMATOR, DISCRIMINATOR = 'encoder', 'estimator', 'discriminator'


def gather(tensor):
  """Concatenates a per-replica tensor over replicas along axis 0 (identity on one replica).

  Differentiable: the gradient of the gathered tensor is summed over replicas and sliced back.
  """
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return tensor
  return context.all_gather(tensor, axis=0)


def num_replicas() -> int:
  context = tf.distribute.get_replica_context()
  return 1 if context is None else context.num_replicas_in_sync


def _jsd(local, global_):
  """JSD estimator between two [B, d] batches (one local and one global feature each)."""
  return losses.fenchel_dual_loss(local[:, tf.newaxis], global_[:, tf.newaxis], 'JSD')


def _nce(local, global_):
  return losses.info_nce_loss(local[:, tf.newaxis], global_[:, tf.newaxis])


def _adagrad(config: configs.AlgorithmConfig):
  return keras.optimizers.Adagrad(learning_rate=config.learning_rate,
                                  initial_accumulator_value=config.initial_accumulator_value,
                                  epsilon=config.epsilon)


class Algorithm(abc.ABC):
  """Base class: players, the train step, building and checkpointable parts."""

  def __init__(self, config: configs.AlgorithmConfig, synchronized_batch_norm=False):
    self.config = config
    self._sync = synchronized_batch_norm
    self.players = self._player_names()
    self.optimizers = {name: _adagrad(config) for name in self.players}

  # -- what subclasses define ---------------------------------------------------------------
  def _player_names(self) -> tuple:
    return (ENCODER,)

  @abc.abstractmethod
  def player_variables(self, player: str) -> list:
    """The trainable variables a player's optimizer updates."""

  @abc.abstractmethod
  def compute_losses(self, anchor, positive):
    """Returns ({term name: scalar}, {player: total loss}) for one batch of pairs."""

  @property
  def pose_dim(self) -> int:
    return self.config.pose_embedding_dim

  @property
  def view_dim(self) -> int:
    return self.config.view_embedding_dim

  # -- shared machinery ---------------------------------------------------------------------
  @property
  def encoder_optimizer(self):
    return self.optimizers[ENCODER]

  @property
  def estimator_optimizer(self):
    return self.optimizers.get(ESTIMATOR)

  @property
  def discriminator_optimizer(self):
    return self.optimizers.get(DISCRIMINATOR)

  def _encode(self, inputs, critic=None):
    """Local forward of E (and the critic on E's fc0); returns gathered tensors and the KL."""
    outputs, activations = self.encoder(inputs, training=True)
    kl = tf.add_n(self.encoder.losses) if self.encoder.losses else tf.constant(0.0)
    critic_outputs = None
    if critic is not None:
      critic_outputs = gather(critic(activations['fc0'], training=True)[0])
    return gather(outputs), critic_outputs, kl

  def _split(self, embeddings):
    return embeddings[:, :self.pose_dim], embeddings[:, self.pose_dim:]

  def train_step(self, anchor, positive):
    """One update of every player from one forward pass; returns the named loss terms.

    anchor, positive: this replica's normalised 2D poses [b, J, 2].
    """
    tapes = {name: tf.GradientTape() for name in self.players}
    with contextlib.ExitStack() as stack:
      for tape in tapes.values():
        stack.enter_context(tape)
      terms, totals = self.compute_losses(anchor, positive)
      # Each replica holds the global-batch loss and gradients are summed over replicas.
      scaled = {name: totals[name] / num_replicas() for name in self.players}
    gradients = {name: tapes[name].gradient(scaled[name], self.player_variables(name))
                 for name in self.players}
    for name in self.players:  # all gradients first, then applied in player order
      self.optimizers[name].apply_gradients(zip(gradients[name], self.player_variables(name)))
    return terms

  def build(self, num_joints: int = 13):
    """Creates every variable (a forward pass on zeros) and the optimizers' slots.

    Call inside the strategy scope, before the first compiled step: Keras 3 optimizers create
    slots lazily, which fails inside a replica context. Batch-norm statistics are restored.
    """
    dummy = tf.zeros([2, num_joints, 2])
    terms, _ = self.compute_losses(dummy, dummy)
    self.term_names = tuple(terms)
    for variable in self.non_trainable_variables():
      if variable.path.endswith('moving_mean'):
        variable.assign(tf.zeros_like(variable))
      elif variable.path.endswith('moving_variance'):
        variable.assign(tf.ones_like(variable))
    for name in self.players:
      self.optimizers[name].build(self.player_variables(name))

  @abc.abstractmethod
  def networks(self) -> dict:
    """The Keras models by name (what checkpoints hold besides the optimizers)."""

  def non_trainable_variables(self) -> list:
    return [v for net in self.networks().values() for v in net.non_trainable_variables]

  def checkpoint_items(self) -> dict:
    """Everything a checkpoint must hold: networks, optimizers and dropout seed states."""
    items = dict(self.networks())
    items.update({f'{name}_optimizer': opt for name, opt in self.optimizers.items()})
    items['random_states'] = {name: models.seed_states(network)
                              for name, network in self.networks().items()}
    return items

  def embed(self, inputs):
    """Inference embeddings (z_p, z_v) of normalised poses [N, J, 2]."""
    outputs, _ = self.encoder(inputs, training=False)
    return self._split(outputs)


class Disentangle(Algorithm):
  """CV-MIM (SPEC §5.4): cross-view MI, CLUB disentanglement, adversarial uniform prior."""

  def __init__(self, config, synchronized_batch_norm=False):
    super().__init__(config, synchronized_batch_norm)
    dims = config.pose_embedding_dim + config.view_embedding_dim
    sub_dim = models.critic_dim(config.fusion, config.pose_embedding_dim,
                                config.view_embedding_dim)
    self.encoder = models.create_encoder(dims, config.embedder, config.dropout_rate, self._sync)
    self.critic = models.create_critic(sub_dim, config.dropout_rate, self._sync)
    if self._uses_estimators():
      self.intra_estimator = models.LikelihoodEstimator(
          config.view_embedding_dim, self._sync, name='intra_estimator')
      self.inter_estimator = models.LikelihoodEstimator(
          config.view_embedding_dim, self._sync, name='inter_estimator')
    if config.use_prior:
      self.discriminator = models.create_discriminator(dims)

  def _uses_estimators(self):
    return self.config.disentangle_loss_weight > 0.0

  def _player_names(self):
    players = [ENCODER]
    if self._uses_estimators():
      players.append(ESTIMATOR)
    if self.config.use_prior:
      players.append(DISCRIMINATOR)
    return tuple(players)

  def networks(self):
    nets = {'encoder': self.encoder, 'critic': self.critic}
    if self._uses_estimators():
      nets.update(intra_estimator=self.intra_estimator, inter_estimator=self.inter_estimator)
    if self.config.use_prior:
      nets['discriminator'] = self.discriminator
    return nets

  def player_variables(self, player):
    if player == ENCODER:
      return self.encoder.trainable_variables + self.critic.trainable_variables
    if player == ESTIMATOR:
      return (self.intra_estimator.trainable_variables
              + self.inter_estimator.trainable_variables)
    return self.discriminator.trainable_variables

  def _prior(self, pose, view):
    """(generator loss, discriminator loss) of matching sigmoid([z_p, z_v]) to U[0, 1)."""
    fake = tf.sigmoid(tf.concat([pose, view], axis=-1))
    real = tf.random.uniform(tf.shape(fake))
    discriminator_loss, _, fake_outputs = losses.discriminator_loss(self.discriminator, real,
                                                                    fake)
    return losses.generator_loss(fake_outputs, 'NS'), discriminator_loss

  def _club(self, estimator, x, y):
    mean, logvar = estimator(x, training=True)
    return (losses.contrastive_log_ratio(mean, logvar, y),
            losses.log_likelihood(mean, logvar, y))

  def compute_losses(self, anchor, positive):
    c = self.config
    anchor_z, anchor_s, anchor_kl = self._encode(anchor, self.critic)
    positive_z, positive_s, positive_kl = self._encode(positive, self.critic)
    anchor_pose, anchor_view = self._split(anchor_z)
    positive_pose, positive_view = self._split(positive_z)
    t = {}
    t['encoder/representation_loss'] = (
        _jsd(anchor_s, models.fuse(anchor_pose, anchor_view, c.fusion))
        + _jsd(positive_s, models.fuse(positive_pose, positive_view, c.fusion)))
    t['encoder/regularization_loss'] = c.regularization_loss_weight * (anchor_kl + positive_kl)
    t['encoder/view_loss'] = 2.0 * c.view_loss_weight * _jsd(anchor_pose, positive_pose)
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
      totals[DISCRIMINATOR] = t['discriminator/total_loss'] = anchor_d + positive_d
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
      totals[ESTIMATOR] = t['estimator/total_loss'] = -anchor_ll - positive_ll - 2.0 * inter_ll
    totals[ENCODER] = t['encoder/total_loss'] = encoder_total
    return t, totals


class Align(Algorithm):
  """ALIGN: one embedding of width Dp, no view split (SPEC §5.5)."""

  def __init__(self, config, synchronized_batch_norm=False):
    super().__init__(config, synchronized_batch_norm)
    self.encoder = models.create_encoder(config.pose_embedding_dim, config.embedder,
                                         config.dropout_rate, self._sync)
    self.critic = models.create_critic(config.pose_embedding_dim, config.dropout_rate,
                                       self._sync)

  @property
  def view_dim(self):
    return 0

  def networks(self):
    return {'encoder': self.encoder, 'critic': self.critic}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.critic.trainable_variables

  def compute_losses(self, anchor, positive):
    c = self.config
    anchor_z, anchor_s, anchor_kl = self._encode(anchor, self.critic)
    positive_z, positive_s, positive_kl = self._encode(positive, self.critic)
    t = {'encoder/representation_loss': _jsd(anchor_s, anchor_z) + _jsd(positive_s, positive_z),
         'encoder/regularization_loss': c.regularization_loss_weight * (anchor_kl + positive_kl),
         'encoder/view_loss': 2.0 * c.view_loss_weight * _jsd(anchor_z, positive_z)}
    t['encoder/total_loss'] = sum(t.values())
    return t, {ENCODER: t['encoder/total_loss']}


class AutoEncoder(Algorithm):
  """AE (POINT embedder), VAE (GAUSSIAN), beta-VAE (GAUSSIAN, weight beta) (SPEC §5.5)."""

  def __init__(self, config, synchronized_batch_norm=False, num_joints=13):
    super().__init__(config, synchronized_batch_norm)
    dims = config.pose_embedding_dim + config.view_embedding_dim
    self.encoder = models.create_encoder(dims, config.embedder, config.dropout_rate, self._sync)
    self.decoder = models.SimpleModel((num_joints, 2), dropout_rate=config.dropout_rate,
                                      synchronized_batch_norm=self._sync, name='decoder')

  def networks(self):
    return {'encoder': self.encoder, 'decoder': self.decoder}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.decoder.trainable_variables

  def _mse(self, targets, pose, view):
    reconstruction, _ = self.decoder(tf.concat([pose, view], axis=-1), training=True)
    return tf.reduce_mean(tf.square(targets - reconstruction))

  def compute_losses(self, anchor, positive):
    anchor_z, _, anchor_kl = self._encode(anchor)
    positive_z, _, positive_kl = self._encode(positive)
    anchor, positive = gather(anchor), gather(positive)
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
    return t, {ENCODER: t['encoder/total_loss']}


class InfoMax(Algorithm):
  """INFOMAX (the "DIM" row) and, with `estimator=_nce`, INFONCE (SPEC §5.5)."""

  def __init__(self, config, synchronized_batch_norm=False, estimator=_jsd):
    super().__init__(config, synchronized_batch_norm)
    self._estimator = estimator
    dims = config.pose_embedding_dim + config.view_embedding_dim
    sub_dim = models.critic_dim(config.fusion, config.pose_embedding_dim,
                                config.view_embedding_dim)
    self.encoder = models.create_encoder(dims, config.embedder, config.dropout_rate, self._sync)
    self.critic = models.create_critic(sub_dim, config.dropout_rate, self._sync)

  def networks(self):
    return {'encoder': self.encoder, 'critic': self.critic}

  def player_variables(self, player):
    return self.encoder.trainable_variables + self.critic.trainable_variables

  def compute_losses(self, anchor, positive):
    c, mi = self.config, self._estimator
    anchor_z, anchor_s, anchor_kl = self._encode(anchor, self.critic)
    positive_z, positive_s, positive_kl = self._encode(positive, self.critic)
    anchor_pose, anchor_view = self._split(anchor_z)
    positive_pose, positive_view = self._split(positive_z)
    t = {'encoder/representation_loss': (
             mi(anchor_s, models.fuse(anchor_pose, anchor_view, c.fusion))
             + mi(positive_s, models.fuse(positive_pose, positive_view, c.fusion))),
         'encoder/view_loss': c.view_loss_weight * (
             mi(anchor_s, models.fuse(positive_pose, anchor_view, c.fusion))
             + mi(positive_s, models.fuse(anchor_pose, positive_view, c.fusion))),
         'encoder/regularization_loss': c.regularization_loss_weight * (
             anchor_kl + positive_kl)}
    t['encoder/total_loss'] = sum(t.values())
    return t, {ENCODER: t['encoder/total_loss']}


def create_algorithm(config: configs.AlgorithmConfig, synchronized_batch_norm=False):
  """The algorithm named by `config.algorithm`; an unknown name lists the valid ones."""
  name = config.algorithm
  if name == configs.ALGORITHM_DISENTANGLE:
    return Disentangle(config, synchronized_batch_norm)
  if name == configs.ALGORITHM_ALIGN:
    return Align(config, synchronized_batch_norm)
  if name == configs.ALGORITHM_AUTOENCODER:
    return AutoEncoder(config, synchronized_batch_norm)
  if name == configs.ALGORITHM_INFOMAX:
    return InfoMax(config, synchronized_batch_norm)
  if name == configs.ALGORITHM_INFONCE:
    return InfoMax(config, synchronized_batch_norm, estimator=_nce)
  raise ValueError(f'Unknown algorithm {name!r}; valid: {", ".join(configs.ALGORITHMS)}.')
