"""Networks of CV-MIM (docs/losses.md): encoder, MI critic, fusion, Q estimators, prior discriminator.

Keras 3 layers, subclassed by the book: sublayers are created in `__init__`, nothing is created
in `call`. Block names (`flatten`, `fc0`, `res_fcs1`, ..., `embedder`) are the original's.
"""

import math

import keras
import tensorflow as tf

from poem_cvmim.core import club
from poem_cvmim.core import errors
from poem_cvmim.representation import configs
from poem_cvmim.representation import kernels

# Pr-VIPE's head (mean and standard deviation side by side); built by
# `create_probabilistic_encoder`, not offered to the other algorithms.
EMBEDDER_PROBABILISTIC = 'PROBABILISTIC'
_MODEL_EMBEDDERS = configs.EMBEDDER_TYPES + (EMBEDDER_PROBABILISTIC,)

# The Gaussian embedder bounds its log-variance to (-10, 10) (docs/losses.md).
LOGVAR_BOUND = 10.0
# Blocks of the encoder that the critic shares instead of owning (docs/losses.md).
SHARED_BLOCKS = ('flatten', 'fc0')


def _dense(units, initializer, max_norm, name=None, activation=None):
  constraint = keras.constraints.MaxNorm(max_norm) if max_norm > 0.0 else None
  return keras.layers.Dense(units, activation=activation, kernel_initializer=initializer,
                            bias_initializer=initializer, kernel_constraint=constraint,
                            bias_constraint=constraint, name=name)


class _OrderedSublayers:
  """Sublayers held as attributes named after them, plus their call order.

  TensorFlow checkpoints and SavedModels follow attributes, not Keras' tracked lists: a
  sublayer kept only in a list would lose its batch-norm statistics on save.
  """

  def _add(self, layer):
    setattr(self, layer.name, layer)
    self._order.append(layer.name)

  def _ordered(self) -> list:
    return [getattr(self, name) for name in self._order]


class LinearBlock(_OrderedSublayers, keras.layers.Layer):
  """Dense -> [BatchNorm] -> ReLU -> Dropout, repeated; optionally residual (y = x + F(x)).

  Sublayers are the attributes `dense0`, `batch_norm0`, `relu0`, `dropout0`, ...
  """

  def __init__(self, hidden_dim, num_layers, dropout_rate, use_batch_norm, initializer,
               max_norm, residual, synchronized_batch_norm=False, **kwargs):
    super().__init__(**kwargs)
    self.residual = residual
    self._order = []
    for i in range(num_layers):
      self._add(_dense(hidden_dim, initializer, max_norm, name=f'dense{i}'))
      if use_batch_norm:
        self._add(keras.layers.BatchNormalization(synchronized=synchronized_batch_norm,
                                                  name=f'batch_norm{i}'))
      self._add(keras.layers.ReLU(name=f'relu{i}'))
      self._add(kernels.StepDropout(dropout_rate, name=f'dropout{i}'))

  @property
  def sublayers(self):
    return self._ordered()

  def call(self, inputs, training=None, seed=None, groups=1):
    """`seed`: an optional key of this call's dropout masks (one per layer is folded in);
    `groups` as `SimpleModel.call`."""
    x = inputs
    for index, layer in enumerate(self.sublayers):
      if isinstance(layer, kernels.StepDropout):
        x = layer(x, training=training, seed=kernels.fold_seed(seed, index))
      elif (training is True and layer.trainable  # a tensor `training` goes to Keras' call
            and isinstance(layer, keras.layers.BatchNormalization)):
        if layer.synchronized and groups > 1:
          raise errors.InputError('Synchronized batch norm normalises over all replicas; it cannot '
                                  'normalise the parts of a batch separately (groups > 1).')
        x = (layer(x, training=True) if layer.synchronized
             else kernels.batch_norm_training(layer, x, groups))
      else:
        x = layer(x, training=training)
    return inputs + x if self.residual else x


class GaussianEmbedder(keras.layers.Layer):
  """Mean and log-variance heads; samples in training and adds the KL to N(0, I) as a loss."""

  def __init__(self, units, initializer, max_norm, logvar=configs.GAUSSIAN_LOGVAR_SOFT,
               **kwargs):
    super().__init__(**kwargs)
    soft = logvar == configs.GAUSSIAN_LOGVAR_SOFT
    self.mean_layer = _dense(units, initializer, max_norm, name='mean')
    # SOFT: log-variance LOGVAR_BOUND·tanh(x / LOGVAR_BOUND) (slope 1 at 0) from a head that
    # starts at 0 (unit variances). TANH (runs made before): LOGVAR_BOUND·tanh(x) from a
    # he_normal head, whose initial outputs (std ~2) give variances up to e^10 and a KL of
    # ~1e5; Adagrad's first, sign-sized steps on its 1024 inputs then pin every log-variance
    # at -10, where tanh's gradient vanishes (docs/results.md).
    self.logvar_layer = _dense(units, 'zeros' if soft else initializer, max_norm, name='logvar')
    self.logvar_scale = 1.0 / LOGVAR_BOUND if soft else 1.0
    # Its state is checkpointed (core.checkpointing.seed_states): a resumed run samples
    # what the uninterrupted run would have.
    self.seed_generator = keras.random.SeedGenerator(name='sampling_seed')

  def build(self, input_shape):
    self.mean_layer.build(input_shape)
    self.logvar_layer.build(input_shape)  # also in inference, so checkpoints always match

  def call(self, inputs, training=None):
    mean = self.mean_layer(inputs)
    if not training:
      return mean
    logvar = LOGVAR_BOUND * tf.tanh(self.logvar_scale * self.logvar_layer(inputs))
    # KL(N(mean, exp(logvar)) || N(0, I)), summed over dims, mean over the (local) batch.
    kl = -0.5 * tf.reduce_sum(logvar - tf.square(mean) - tf.exp(logvar) + 1.0, axis=-1)
    self.add_loss(tf.reduce_mean(kl))
    noise = keras.random.normal(tf.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
    return mean + tf.exp(logvar / 2.0) * noise


class ProbabilisticEmbedder(keras.layers.Layer):
  """Pr-VIPE's Gaussian head: mean = linear, standard deviation = ELU(linear) + 1.

  Returns [..., 2 units]: the means, then the standard deviations (used as sigma directly, not
  as a log-variance), in training and in inference alike; sampling is the algorithm's.
  """

  def __init__(self, units, initializer, max_norm, **kwargs):
    super().__init__(**kwargs)
    self.mean_layer = _dense(units, initializer, max_norm, name='mean')
    self.stddev_layer = _dense(units, initializer, max_norm, name='stddev')

  def build(self, input_shape):
    self.mean_layer.build(input_shape)
    self.stddev_layer.build(input_shape)

  def call(self, inputs, training=None):
    stddevs = tf.nn.elu(self.stddev_layer(inputs)) + 1.0
    return tf.concat([self.mean_layer(inputs), stddevs], axis=-1)


class SimpleModel(_OrderedSublayers, keras.Model):
  """The "simple baseline" residual MLP encoder (docs/losses.md).

  `call(x, training)` returns `(output, activations)`; output has shape [B, *output_shape] and
  activations maps the block names to their outputs.
  """

  def __init__(self, output_shape, embedder=configs.EMBEDDER_POINT, hidden_dim=1024,
               num_residual_linear_blocks=2, num_layers_per_block=2, dropout_rate=0.0,
               use_batch_norm=True, weight_initializer='he_normal', weight_max_norm=0.0,
               synchronized_batch_norm=False, shared_blocks=None,
               gaussian_logvar=configs.GAUSSIAN_LOGVAR_SOFT, **kwargs):
    super().__init__(**kwargs)
    if embedder not in _MODEL_EMBEDDERS:
      raise errors.InputError(
          f'Unknown embedder {embedder!r}; valid: {", ".join(configs.EMBEDDER_TYPES)}.')
    self.embedding_shape = tuple(output_shape)
    self._config = dict(output_shape=list(output_shape), embedder=embedder,
                        hidden_dim=hidden_dim,
                        num_residual_linear_blocks=num_residual_linear_blocks,
                        num_layers_per_block=num_layers_per_block, dropout_rate=dropout_rate,
                        use_batch_norm=use_batch_norm, weight_initializer=weight_initializer,
                        weight_max_norm=weight_max_norm, gaussian_logvar=gaussian_logvar)
    block_kwargs = dict(dropout_rate=dropout_rate, use_batch_norm=use_batch_norm,
                        initializer=weight_initializer, max_norm=weight_max_norm,
                        synchronized_batch_norm=synchronized_batch_norm)
    # Blocks are attributes named as in the original (`fc0`, `res_fcs1`, ...) so that
    # checkpoints and SavedModels hold every variable; `_order` keeps the call order.
    self._order = []
    if shared_blocks is None:
      self._add(keras.layers.Flatten(name='flatten'))
      self._add(LinearBlock(hidden_dim, 1, residual=False, name='fc0', **block_kwargs))
    for i in range(num_residual_linear_blocks):
      self._add(LinearBlock(hidden_dim, num_layers_per_block, residual=True,
                            name=f'res_fcs{i + 1}', **block_kwargs))
    units = math.prod(self.embedding_shape)
    if embedder == configs.EMBEDDER_POINT:
      self._add(_dense(units, weight_initializer, weight_max_norm, name='embedder'))
    elif embedder == EMBEDDER_PROBABILISTIC:
      self._add(ProbabilisticEmbedder(units // 2, weight_initializer, weight_max_norm,
                                      name='embedder'))
    else:
      self._add(GaussianEmbedder(units, weight_initializer, weight_max_norm, gaussian_logvar,
                                 name='embedder'))

  @property
  def blocks(self):
    return self._ordered()

  def call(self, inputs, training=None, seed=None, groups=1):
    """`seed`: an optional key of the dropout masks (`kernels.StepDropout`); one per block is folded
    in. Without it, dropout draws from the layers' own seed generators.

    `groups` > 1: the batch is that many equal parts (the views of a batch of pairs, stacked)
    and in training each part is treated as if the network were called on it alone: batch
    norm normalises it by its own moments (the moving statistics take one update per part,
    in order) and, with `seed` a list of one key per part, its dropout masks are the ones that
    key alone draws. One call of twice the rows multiplies larger matrices than two calls.
    Not for the Gaussian embedder (its KL and samples are drawn for the whole batch).
    """
    if groups > 1 and training and isinstance(self.blocks[-1], GaussianEmbedder):
      raise errors.InputError('The Gaussian embedder cannot treat the parts of a batch separately.')
    x = inputs
    activations = {}
    for index, block in enumerate(self.blocks):
      if isinstance(block, LinearBlock):
        x = block(x, training=training, seed=kernels.fold_seed(seed, index), groups=groups)
      else:
        x = block(x, training=training)
      activations[block.name] = x
    output = tf.reshape(x, tf.concat([tf.shape(x)[:1], self.embedding_shape], axis=0))
    activations['embedder'] = output
    return output, activations

  def get_config(self):
    return dict(super().get_config(), **self._config)


def create_encoder(embedding_dim, embedder=configs.EMBEDDER_POINT, dropout_rate=0.25,
                   synchronized_batch_norm=False, name='encoder',
                   gaussian_logvar=configs.GAUSSIAN_LOGVAR_SOFT):
  """The encoder E with the original's defaults: 1024 wide, 2 residual blocks of 2 layers."""
  return SimpleModel((embedding_dim,), embedder=embedder, dropout_rate=dropout_rate,
                     synchronized_batch_norm=synchronized_batch_norm, name=name,
                     gaussian_logvar=gaussian_logvar)


class MatchingSigmoid(keras.layers.Layer):
  """The learned scalars of Pr-VIPE's matching probability p = (1 - s) sigmoid(-a d + b) + s/2:
  `raw_a` (a = ELU(raw_a) + 1) and `b`, initialised to constants so that training does not
  start in the sigmoid's flat region (the original's -0.65 and -0.5)."""

  def __init__(self, raw_a_initial=-0.65, b_initial=-0.5, **kwargs):
    super().__init__(**kwargs)
    self.raw_a_initial, self.b_initial = raw_a_initial, b_initial
    self.build(None)

  def build(self, input_shape):
    constant = keras.initializers.Constant
    self.raw_a = self.add_weight(shape=(), initializer=constant(self.raw_a_initial),
                                 name='raw_a')
    self.b = self.add_weight(shape=(), initializer=constant(self.b_initial), name='b')

  def get_config(self):
    return dict(super().get_config(), raw_a_initial=self.raw_a_initial, b_initial=self.b_initial)


def create_probabilistic_encoder(embedding_dim, dropout_rate=0.3, synchronized_batch_norm=False,
                                 name='encoder'):
  """Pr-VIPE's encoder: the same backbone with `ProbabilisticEmbedder`; outputs
  [B, 2 embedding_dim] = [means, standard deviations]."""
  return SimpleModel((2 * embedding_dim,), embedder=EMBEDDER_PROBABILISTIC,
                     dropout_rate=dropout_rate, synchronized_batch_norm=synchronized_batch_norm,
                     name=name)


def create_critic(sub_dim, dropout_rate=0.25, synchronized_batch_norm=False, name='critic'):
  """The MI critic s(.): two fresh residual blocks + Dense(sub_dim), fed E's `fc0` output."""
  return SimpleModel((sub_dim,), dropout_rate=dropout_rate, shared_blocks=SHARED_BLOCKS,
                     synchronized_batch_norm=synchronized_batch_norm, name=name)


def critic_dim(fusion, pose_dim, view_dim):
  """Width of the critic's output for a fusion: Dp + Dv for CAT, Dp for POE and MOE."""
  if fusion not in configs.FUSION_TYPES:
    raise errors.InputError(f'Unknown fusion {fusion!r}; valid: {", ".join(configs.FUSION_TYPES)}.')
  if fusion == configs.FUSION_CAT:
    return pose_dim + view_dim
  if pose_dim != view_dim:
    raise errors.InputError(f'Fusion {fusion} needs equal pose and view embedding widths, got '
                            f'pose_embedding_dim={pose_dim} and view_embedding_dim={view_dim}.')
  return pose_dim


def fuse(pose_embeddings, view_embeddings, fusion):
  """CAT: concat(z_p, z_v); POE: z_p * z_v; MOE: (z_p + z_v) / 2 (docs/losses.md)."""
  if fusion == configs.FUSION_CAT:
    return tf.concat([pose_embeddings, view_embeddings], axis=-1)
  if fusion == configs.FUSION_POE:
    return pose_embeddings * view_embeddings
  if fusion == configs.FUSION_MOE:
    return 0.5 * (pose_embeddings + view_embeddings)
  raise errors.InputError(f'Unknown fusion {fusion!r}; valid: {", ".join(configs.FUSION_TYPES)}.')


# The CLUB estimator lives in core (TDMI uses it too).
LikelihoodEstimator = club.LikelihoodEstimator


def create_discriminator(input_dim, name='discriminator'):
  """Prior discriminator D: Dense(d, relu) -> Dense(d / 2, relu) -> Dense(1) (docs/losses.md)."""
  return keras.Sequential([
      keras.layers.Dense(input_dim, activation='relu'),
      keras.layers.Dense(input_dim // 2, activation='relu'),
      keras.layers.Dense(1)], name=name)
