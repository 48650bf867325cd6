"""Representation-learning algorithms (docs/losses.md): CV-MIM and the baselines.

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
from typing import Optional

import keras
import tensorflow as tf

from poem_cvmim.core import checkpointing
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import random_keys
from poem_cvmim.representation import configs
from poem_cvmim.representation import kernels
from poem_cvmim.representation import losses
from poem_cvmim.representation import mining
from poem_cvmim.representation import networks
from poem_cvmim.representation import pipeline

ENCODER, ESTIMATOR, DISCRIMINATOR = 'encoder', 'estimator', 'discriminator'
# What each stateless random draw of a step is for (distinct keys).
PURPOSE_INPUTS, PURPOSE_PRIOR, PURPOSE_SAMPLES, PURPOSE_DROPOUT = 1, 2, 3, 4


def gather(tensor):
  """Concatenates a per-replica tensor over replicas along axis 0 (identity on one replica).

  Differentiable: the gradient of the gathered tensor is summed over replicas and sliced back.
  """
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return tensor
  return context.all_gather(tensor, axis=0)


def pair_inputs(anchor, positive, **features) -> dict:
  """The model inputs `Algorithm.update` takes: the two views' normalised 2D poses [b, J, 2]
  and optional features by name (`pipeline.OPTIONAL_FEATURES`)."""
  unknown = sorted(set(features) - set(pipeline.OPTIONAL_FEATURES))
  if unknown:
    raise errors.InputError(f'Unknown input features {unknown}; valid: '
                            f'{list(pipeline.OPTIONAL_FEATURES)}.')
  return dict(features, **{pipeline.ANCHOR: anchor, pipeline.POSITIVE: positive})


def num_replicas() -> int:
  context = tf.distribute.get_replica_context()
  return 1 if context is None else context.num_replicas_in_sync


def jsd(local, global_):
  """JSD estimator between two [B, d] batches (one local and one global feature each)."""
  return losses.fenchel_dual_loss(local[:, tf.newaxis], global_[:, tf.newaxis], 'JSD')


def jsd_with_own_side(local, other, other_weights, own_weights):
  """JSD of `local` [B, d] against `other` and `local` itself: positive pairs (i, other_i);
  negatives other_j weighted `other_weights` [B, B] and local_j weighted `own_weights` [B, B]
  (`losses.fenchel_dual_loss`). With `own_weights` 0 and `other_weights` 1 off the diagonal it
  is `jsd(local, other)`."""
  size = tf.shape(local)[0]
  eye = tf.eye(size, dtype=local.dtype)
  both = tf.concat([other, local], axis=0)
  # `local` is read back from the concatenation so that it reaches the scores by one path. With
  # two (local itself and its copy in `both`), TensorFlow summed the gradients of `local` in an
  # order that changed with Python's hash seed, so two --deterministic runs differed in the last
  # bits (tests/test_clip_sampler.py runs two in separate processes).
  local = both[size:]
  return losses.fenchel_dual_loss(
      local[:, tf.newaxis], both[:, tf.newaxis], 'JSD',
      positive_indicator_matrix=tf.concat([eye, tf.zeros_like(eye)], axis=1),
      negative_weights=tf.concat([other_weights, own_weights], axis=1))


def repeated_pose_pairs(inputs, config, clips, cameras, within_clip=True, use_3d=True):
  """[B, B] bool: pairs of rows whose poses repeat (the periodic guard of temporal negatives,
  docs/mining.md): within `config.mining.periodic_guard_mpjpe` NP-MPJPE where the inputs hold 3D,
  else seen by one camera within `config.mining.periodic_guard_2d`. Only pairs of one clip are
  judged (`within_clip`), or also pairs that share a camera. `use_3d` False: the 2D guard
  whatever the inputs hold.

  clips [B], cameras [B, 2]: gathered over replicas, as the returned mask."""
  if use_3d and pipeline.POSES_3D in inputs:
    candidates = mining.same_clip(clips)
    if not within_clip:
      for u in (0, 1):
        for v in (0, 1):
          candidates |= mining.same_cameras(cameras[:, u], cameras[:, v])
    poses_3d = gather(inputs[pipeline.POSES_3D])
    return mining.close_poses_3d(poses_3d[:, 0], poses_3d[:, 1], config.mining.periodic_guard_mpjpe,
                                 candidates=candidates)
  return mining.close_poses_2d(
      gather(inputs[pipeline.ANCHOR]), gather(inputs[pipeline.POSITIVE]), cameras, clips,
      config.mining.periodic_guard_2d, within_clip=within_clip)


def nce(local, global_):
  return losses.info_nce_loss(local[:, tf.newaxis], global_[:, tf.newaxis])


class Algorithm(abc.ABC):
  """Base class: players, the train step, building and checkpointable parts.

  A subclass answers to the `--algorithm_type` in its `NAME`; `registry.create_algorithm` finds
  it there, so a new method is one module with one class.
  """

  NAME: Optional[str] = None  # the configs.ALGORITHMS entry this class implements

  def __init__(self, config: configs.AlgorithmConfig,
               inputs: Optional[pipeline.InputSpec] = None, synchronized_batch_norm=False):
    self.config = config
    self.inputs = inputs or pipeline.InputSpec()
    self._sync = synchronized_batch_norm
    # False: one pass of E per view even where one pass over both is exact (`merges_views`);
    # the step benchmark and the tests compare the two.
    self.merge_views = True
    self.players = self._player_names()
    self.optimizers = {name: kernels.adagrad(config) for name in self.players}
    # Keys every random draw of a step (poem_cvmim.core.random_keys); the trainer sets it
    # from the run's seed and checkpoints save it.
    self.run_seed = tf.Variable(0, dtype=tf.int64, trainable=False, name='run_seed')

  def _build_encoder_and_critic(self, embedding_dim: int, critic_dim: Optional[int] = None):
    """E with `embedding_dim` outputs (the config's embedder) and the critic that scores E's
    first layer against an embedding of `critic_dim` (default `embedding_dim`): the networks
    of the contrastive methods (CV-MIM, DIM, InfoNCE, ALIGN)."""
    c = self.config
    self.encoder = networks.create_encoder(embedding_dim, c.embedder, c.dropout_rate, self._sync,
                                           gaussian_logvar=c.gaussian_logvar)
    self.critic = networks.create_critic(critic_dim or embedding_dim, c.dropout_rate, self._sync)

  # -- what subclasses define ---------------------------------------------------------------
  def _player_names(self) -> tuple:
    return (ENCODER,)

  @abc.abstractmethod
  def player_variables(self, player: str) -> list:
    """The trainable variables a player's optimizer updates."""

  @abc.abstractmethod
  def compute_losses(self, inputs: dict):
    """Returns ({term name: scalar}, {player: total loss}) for one batch of pairs.

    inputs: this replica's model inputs (`pipeline.make_model_inputs`): `pipeline.ANCHOR` and
    `pipeline.POSITIVE` normalised 2D poses [b, J, 2] and the features in `self.features`.
    """

  @property
  def features(self) -> tuple:
    """The optional model inputs (`pipeline.OPTIONAL_FEATURES`) the loss reads; the pipeline
    parses and prepares exactly these."""
    return (pipeline.POSES_3D,) if self.config.algorithm in configs.ALGORITHMS_NEEDING_3D else ()

  @property
  def needs_3d(self) -> bool:
    """Whether the loss reads the pairs' 3D poses (`pipeline.POSES_3D`)."""
    return pipeline.POSES_3D in self.features

  @property
  def needs_metadata(self) -> bool:
    """Whether the loss reads the records' clip, frame and camera metadata."""
    return any(name in self.features for name in pipeline.METADATA_FEATURES)

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

  def _encode(self, inputs, critic=None, side=0):
    """Local forward of E (and the critic on E's fc0); returns gathered tensors and the KL.

    `side` (0 anchor, 1 positive) keys the dropout masks of this forward pass: stateless
    draws from the step's key, distinct for each side and network.
    """
    key = self.step_key(PURPOSE_DROPOUT)
    outputs, activations = self.encoder(inputs, training=True,
                                        seed=random_keys.derive(key, 2 * side))
    kl = (tf.add_n(self.encoder.losses) if self.encoder.losses
          else tf.zeros([], outputs.dtype))
    critic_outputs = None
    if critic is not None:
      critic_outputs = gather(critic(activations['fc0'], training=True,
                                     seed=random_keys.derive(key, 2 * side + 1))[0])
    return gather(outputs), critic_outputs, kl

  @property
  def merges_views(self) -> bool:
    """Whether `encode_pair` runs both views in one pass: exact wherever batch norm is local
    (not synchronized over replicas) and the embedder is deterministic (a point)."""
    return (self.merge_views and not self._sync
            and self.config.embedder == configs.EMBEDDER_POINT)

  def encode_pair(self, anchor, positive, critic=None):
    """`_encode` of the anchors and of the positives: ((z, s, kl) of the anchors, (z, s, kl)
    of the positives).

    Where `merges_views`, E and the critic see both views stacked in one call of twice the
    rows (larger matrix products), each view normalised by its own batch moments and masked
    by its own dropout keys: the same computation as the two calls, up to float round-off.
    """
    if not self.merges_views:
      return self._encode(anchor, critic), self._encode(positive, critic, side=1)
    key = self.step_key(PURPOSE_DROPOUT)
    keys = lambda offset: [random_keys.derive(key, 2 * view + offset) for view in (0, 1)]
    outputs, activations = self.encoder(tf.concat([anchor, positive], axis=0), training=True,
                                        seed=keys(0), groups=2)
    critic_outputs = (None if critic is None else
                      critic(activations['fc0'], training=True, seed=keys(1), groups=2)[0])
    size = tf.shape(anchor)[0]
    kl = tf.zeros([], outputs.dtype)
    def half(tensor, view):
      if tensor is None:
        return None
      return gather(tensor[:size] if view == 0 else tensor[size:])
    return tuple((half(outputs, v), half(critic_outputs, v), kl) for v in (0, 1))

  def step_key(self, purpose: int):
    """The stateless seed of one random draw of this step (replica and purpose folded in)."""
    return random_keys.derive(
        random_keys.step_key(self.run_seed, self.encoder_optimizer.iterations), purpose)

  def global_step_key(self, purpose: int):
    """The stateless seed of a draw made for the whole global batch (`random_keys.global_normal`):
    the same on every replica."""
    return random_keys.derive(random_keys.step_key(
        self.run_seed, self.encoder_optimizer.iterations, per_replica=False), purpose)

  def _split(self, embeddings):
    return (embeddings[:, :self.pose_dim],
            embeddings[:, self.pose_dim:self.pose_dim + self.view_dim])

  def preprocess(self, batch):
    """Model inputs from this replica's parsed batch of pair records (docs/cameras.md):
    ({feature: tensor} as `compute_losses` reads it, {statistic: scalar})."""
    i = self.inputs
    return pipeline.make_model_inputs(
        batch, i.input_type, i.profile_2d, i.profile_3d, shuffle=i.shuffle,
        seed=self.step_key(PURPOSE_INPUTS), features=self.features,
        camera_depth_range=i.camera_depth_range,
        min_joint_depth_fraction=i.min_joint_depth_fraction)

  def train_step(self, batch):
    """One step on a parsed batch of pair records: inputs, then one update of every player.
    Returns the named loss terms and input statistics."""
    inputs, statistics = self.preprocess(batch)
    terms = self.update(inputs)
    terms.update(statistics)
    return terms

  def update(self, inputs: dict):
    """One update of every player from one forward pass; returns the named loss terms.

    inputs: this replica's model inputs, as `compute_losses` takes them (`pair_inputs` makes
    them from tensors).
    """
    tapes = {name: tf.GradientTape() for name in self.players}
    with contextlib.ExitStack() as stack:
      for tape in tapes.values():
        stack.enter_context(tape)
      terms, totals = self.compute_losses(inputs)
      # Each replica holds the global-batch loss and gradients are summed over replicas.
      scaled = {name: totals[name] / num_replicas() for name in self.players}
    gradients = {name: tapes[name].gradient(scaled[name], self.player_variables(name))
                 for name in self.players}
    for name in self.players:  # all gradients first, then applied in player order
      self.optimizers[name].apply_gradients(zip(gradients[name], self.player_variables(name)))
    return terms

  def dummy_inputs(self, batch_size: int = 2) -> dict:
    """Model inputs of the right shapes and types (zeros; 3D poses drawn from a fixed key)."""
    dummy = tf.zeros([batch_size, self.inputs.num_joints, 2],
                     keras.config.dtype_policy().compute_dtype)
    features = {}
    if pipeline.POSES_3D in self.features:
      joints_3d = keypoints.get_profile(self.inputs.profile_3d).keypoint_num
      features[pipeline.POSES_3D] = tf.random.stateless_normal([batch_size, 2, joints_3d, 3],
                                                               [0, 0])
    if pipeline.CLIPS in self.features:
      features[pipeline.CLIPS] = tf.zeros([batch_size], tf.int64)
    if pipeline.FRAMES in self.features:
      features[pipeline.FRAMES] = tf.range(batch_size, dtype=tf.int64) * 1000
    if pipeline.CAMERAS in self.features:
      features[pipeline.CAMERAS] = tf.zeros([batch_size, 2], tf.int64)
    return pair_inputs(dummy, dummy, **features)

  def build(self):
    """Creates every variable (a forward pass on zeros) and the optimizers' slots.

    Call inside the strategy scope, before the first compiled step: Keras 3 optimizers create
    slots lazily, which fails inside a replica context. Batch-norm statistics are restored.
    """
    terms, _ = self.compute_losses(self.dummy_inputs())
    self.term_names = tuple(terms) + pipeline.STATISTIC_NAMES
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
    items['random_states'] = {name: checkpointing.seed_states(network)
                              for name, network in self.networks().items()}
    items['run_seed'] = self.run_seed
    return items

  def embed(self, inputs):
    """Inference embeddings (z_p, z_v) of normalised poses [N, J, 2]."""
    outputs, _ = self.encoder(inputs, training=False)
    return self._split(outputs)
