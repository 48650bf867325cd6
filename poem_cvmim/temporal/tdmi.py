"""TDMI for keypoint windows (Feng et al., CVPR 2023), written out in docs/tdmi.md.

The refiner maps a window of 2r + 1 frames of detections [B, W, 13, 3] ((y, x, confidence) in
the window's units, `temporal.windows`) to the key (middle) frame's 13 joints [B, 13, 2]:

1. Per-frame features at S stages: h_0 = A x_t + a, x_t the frame's 13 joints as
   (g (p_t - p_key), p_t, confidence) with g = RELATIVE_GAIN (65 numbers), then
   h_s = h_{s-1} + W2_s relu(W1_s h_{s-1} + b1_s) + b2_s (a residual block per stage).
2. Temporal differences at every stage: D_s[t] = h_s[t] - h_s[t - 1] between consecutive
   frames (so every frame meets its previous and its next frame), D_s[0] = 0: W steps.
   `differences=False` (the capacity control) feeds h_s's W frames instead, through the
   very same layers.
3. Incremental fusion, stage by stage: M_0 = E_0(D_0), M_s = E_s(D_s + M_{s-1}) (the previous
   stage's motion feature is added to every step of the next stage's input), where E_s is a
   residual block on each step, a dilated temporal convolution (kernel k, dilation 2^s, ReLU)
   and a linear map of its W outputs in time order to one C-vector (a mean over time would
   lose which frame moved where). The paper's deformable convolution over image features is
   replaced by this dilated one: a keypoint sequence has no spatial sampling grid to deform.
4. Representation disentanglement: a channel gate g = sigmoid(G M + c) splits the motion
   feature M = M_{S-1} into a useful part M_u = g * M and a noisy part M_n = (1 - g) * M; the
   mutual information I(M_u; M_n) is minimised through CLUB (`core.club`) with a likelihood
   network q(M_n | M_u) trained by its own optimizer (as CV-MIM's estimator player).
5. The useful motion is fused with the key frame's last-stage feature:
   y = p_key + (V R(relu(F [h_{S-1}[r]; M_u] + f)) + v) / g, R a residual block: the key
   frame's (filled) input joints plus a learned correction.
"""

import keras
import tensorflow as tf

from poem_cvmim.core import club
from poem_cvmim.temporal import configs

NUM_JOINTS = 13
TdmiConfig = configs.TdmiConfig
INPUT_CHANNELS = 3  # y, x, confidence
# Each frame enters as (gain (y, x) - gain (y, x)_key, y, x, confidence): the small offsets
# that matter (jitter, motion: hundredths of a unit) at a scale the layers learn on.
RELATIVE_GAIN = 10.0
ERROR_EPSILON = 1e-8
FRAME_CHANNELS = INPUT_CHANNELS + 2


class ResidualBlock(keras.layers.Layer):
  """h + W2 relu(W1 h + b1) + b2 on the last axis."""

  def __init__(self, width, **kwargs):
    super().__init__(**kwargs)
    self.inner = keras.layers.Dense(width, activation='relu', name='inner',
                                    dtype=self.dtype_policy)
    self.outer = keras.layers.Dense(width, name='outer', dtype=self.dtype_policy)

  def call(self, inputs):
    return inputs + self.outer(self.inner(inputs))


class MotionStage(keras.layers.Layer):
  """E_s: a residual block on each step, a dilated temporal convolution (ReLU), and a linear
  map of the W steps' outputs (flattened in time order) to one C-vector; `pooled` (clips of
  any length) averages the outputs over time instead."""

  def __init__(self, width, kernel_size, dilation, pooled=False, **kwargs):
    super().__init__(**kwargs)
    self.pooled = pooled
    self.block = ResidualBlock(width, name='block', dtype=self.dtype_policy)
    self.conv = keras.layers.Conv1D(width, kernel_size, dilation_rate=dilation,
                                    padding='same', activation='relu', name='conv',
                                    dtype=self.dtype_policy)
    if not pooled:
      self.aggregate = keras.layers.Dense(width, name='aggregate', dtype=self.dtype_policy)

  def call(self, steps):
    outputs = self.conv(self.block(steps))
    if self.pooled:
      return tf.reduce_mean(outputs, axis=1)
    shape = tf.shape(outputs)
    return self.aggregate(tf.reshape(outputs, [shape[0], steps.shape[1] * outputs.shape[2]]))


def differences(features):
  """D[t] = h[t] - h[t - 1] of features [B, W, C] for t >= 1, and D[0] = 0 (the first frame has
  no previous one): W steps, as many as the features, so the capacity control (the features
  themselves) has the very same layers."""
  return tf.concat([tf.zeros_like(features[:, :1]), features[:, 1:] - features[:, :-1]], axis=1)


class TemporalDifferenceEncoder(keras.layers.Layer):
  """Steps 1-3: per-frame features [B, W, C] at each stage and the fused motion M [B, C]."""

  def __init__(self, config: TdmiConfig, pooled: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    dtype = self.dtype_policy
    self.embed = keras.layers.Dense(config.width, name='embed', dtype=dtype)
    # Sublayers are attributes (`frame_block1`, `motion0`, ...): TensorFlow checkpoints follow
    # attributes, not Keras' tracked lists.
    for s in range(1, config.num_stages):
      setattr(self, f'frame_block{s}', ResidualBlock(config.width, name=f'frame_block{s}',
                                                     dtype=dtype))
    for s in range(config.num_stages):
      setattr(self, f'motion{s}', MotionStage(config.width, config.kernel_size, 2 ** s, pooled,
                                              name=f'motion{s}', dtype=dtype))

  @property
  def frame_blocks(self) -> list:
    return [getattr(self, f'frame_block{s}') for s in range(1, self.config.num_stages)]

  @property
  def stages(self) -> list:
    return [getattr(self, f'motion{s}') for s in range(self.config.num_stages)]

  def stage_features(self, frames):
    """[h_0, ..., h_{S-1}], each [B, W, C], of frames [B, W, D]."""
    features = [self.embed(frames)]
    for block in self.frame_blocks:
      features.append(block(features[-1]))
    return features

  def call(self, frames):
    """(motion M [B, C], last-stage features h_{S-1} [B, W, C]) of frames [B, W, D]."""
    features = self.stage_features(frames)
    motion = None
    for h, stage in zip(features, self.stages):
      steps = differences(h) if self.config.differences else h
      if motion is not None:
        steps = steps + motion[:, tf.newaxis, :]
      motion = stage(steps)
    return motion, features[-1]


class Disentanglement(keras.layers.Layer):
  """Step 4: M -> (M_u, M_n) by a learned channel gate."""

  def __init__(self, width, **kwargs):
    super().__init__(**kwargs)
    self.gate = keras.layers.Dense(width, activation='sigmoid', name='gate',
                                   dtype=self.dtype_policy)

  def call(self, motion):
    gate = self.gate(motion)
    return gate * motion, (1.0 - gate) * motion


class Refiner(keras.Model):
  """The keypoint refiner: windows [B, W, 13, 3] -> key-frame joints [B, 13, 2]; `parts`
  returns the useful and noisy motion too."""

  def __init__(self, config: TdmiConfig, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    dtype = self.dtype_policy
    self.encoder = TemporalDifferenceEncoder(config, name='encoder', dtype=dtype)
    self.disentangle = Disentanglement(config.width, name='disentangle', dtype=dtype)
    self.fuse = keras.layers.Dense(config.width, activation='relu', name='fuse', dtype=dtype)
    self.head_block = ResidualBlock(config.width, name='head_block', dtype=dtype)
    # Zero-initialised: an untrained refiner returns the key frame's (filled) input.
    self.head = keras.layers.Dense(NUM_JOINTS * 2, kernel_initializer='zeros', name='head',
                                   dtype=dtype)

  def parts(self, windows):
    """(joints [B, 13, 2], useful M_u [B, C], noisy M_n [B, C])."""
    shape = tf.shape(windows)
    key = windows[:, self.config.radius, :, :2]
    relative = RELATIVE_GAIN * (windows[..., :2] - key[:, tf.newaxis])
    frames = tf.reshape(tf.concat([relative, windows], axis=-1),
                        [shape[0], self.config.window, NUM_JOINTS * FRAME_CHANNELS])
    motion, features = self.encoder(frames)
    useful, noisy = self.disentangle(motion)
    fused = self.fuse(tf.concat([features[:, self.config.radius], useful], axis=-1))
    correction = tf.reshape(self.head(self.head_block(fused)), [shape[0], NUM_JOINTS, 2])
    return key + correction / RELATIVE_GAIN, useful, noisy

  def call(self, windows):
    return self.parts(windows)[0]


def build(config: TdmiConfig, dtype: str = 'float32') -> tuple:
  """(refiner, CLUB estimator q(M_n | M_u) or None when mi_weight is 0), built."""
  refiner = Refiner(config, dtype=dtype, name='refiner')
  refiner(tf.zeros([1, config.window, NUM_JOINTS, INPUT_CHANNELS], dtype))
  estimator = None
  if config.mi_weight > 0.0:
    estimator = club.LikelihoodEstimator(config.width, dtype=dtype, name='mi_estimator')
    estimator(tf.zeros([2, config.width], dtype))
  return refiner, estimator


def losses(refiner, estimator, config: TdmiConfig, windows, targets, training=True) -> dict:
  """{'refiner/error_loss': the mean Euclidean joint error (window units; robust to the
  outliers and swaps a squared error would chase; sqrt(d^2 + 1e-8) keeps its gradient
  finite), 'refiner/mi_bound': CLUB's bound of
  I(M_u; M_n) (weighted in the total), 'refiner/total_loss', 'estimator/likelihood_loss'}."""
  joints, useful, noisy = refiner.parts(windows)
  squared = tf.reduce_sum(tf.square(joints - targets), axis=-1)
  error = tf.reduce_mean(tf.sqrt(squared + ERROR_EPSILON))
  terms = {'refiner/error_loss': error}
  total = terms['refiner/error_loss']
  if estimator is not None:
    mean, logvar = estimator(useful, training=training)
    terms['refiner/mi_bound'] = club.contrastive_log_ratio(mean, logvar, noisy)
    terms['estimator/likelihood_loss'] = -club.log_likelihood(mean, logvar, noisy)
    total = total + config.mi_weight * terms['refiner/mi_bound']
  terms['refiner/total_loss'] = total
  return terms


class ClipMotionStream(keras.layers.Layer):
  """The motion stream of an action classifier (docs/tdmi.md, "A motion stream"): the
  temporal-difference encoder (time averaged: a clip has no key frame) and the gated split
  over a clip's per-frame features [B, T, D] -> the useful motion M_u [B, C].

  In training it adds its two players' losses with `add_loss`, for a model whose one optimizer
  trains everything: mi_weight x the CLUB bound of I(M_u; M_n) with the estimator's weights
  held constant (`LikelihoodEstimator.frozen`: the bound moves the features only), plus the
  estimator's negative log-likelihood on constant features (it moves the estimator only).
  `differences=False` is the capacity control: the features instead of their differences.
  """

  def __init__(self, config: TdmiConfig, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    dtype = self.dtype_policy
    self.encoder = TemporalDifferenceEncoder(config, pooled=True, name='encoder', dtype=dtype)
    self.disentangle = Disentanglement(config.width, name='disentangle', dtype=dtype)
    if config.mi_weight > 0.0:
      self.estimator = club.LikelihoodEstimator(config.width, batch_norm=False,
                                                name='mi_estimator', dtype=dtype)

  def call(self, features, training=None):
    motion, _ = self.encoder(features)
    useful, noisy = self.disentangle(motion)
    if self.config.mi_weight > 0.0:
      mean, logvar = self.estimator(tf.stop_gradient(useful))
      likelihood = club.log_likelihood(mean, logvar, tf.stop_gradient(noisy))
      frozen_mean, frozen_logvar = self.estimator.frozen(useful)
      bound = club.contrastive_log_ratio(frozen_mean, frozen_logvar, noisy)
      if training:
        self.add_loss(self.config.mi_weight * bound - likelihood)
    return useful
