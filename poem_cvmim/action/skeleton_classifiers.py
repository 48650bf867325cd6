"""Fully supervised skeleton classifiers on keypoint sequences: ST-GCN and HCN.

Both take per-frame keypoints [B, T, V, C] (or the flat [B, T, V·C] that raw-keypoint feature
tables hold, joint-major) and return logits [B, num_classes]. Channels-last ports of:

- ST-GCN (Yan et al., AAAI 2018; the authors' `net/st_gcn.py`): batch norm of the input over
  (joint, channel), ten spatial-temporal graph blocks (64 ×4, 128 ×3, 256 ×3 channels,
  temporal kernel 9, stride 2 at the first 128 and the first 256 block, residual connections,
  dropout 0.5 in all but the first), learned edge-importance masks (initialised to 1) on the
  K = 3 spatial-partition matrices (`core/graph_partition.py`), global average pooling over
  time and joints, a linear layer.
- HCN (Li et al., IJCAI 2018): a position and a motion stream (frame differences resized back
  to T frames), each a 1×1 point-level conv (64) → a 3×1 temporal conv (32) → joints
  transposed to channels → two 3×3 co-occurrence convs (32, 64) with 2×2 max pooling;
  concatenated; two more 3×3 convs (128, 256) with pooling; fc 256; logits. Clips are first
  resampled to T = 32 frames (`TemporalCropResize`).
"""

import keras
import numpy as np
import tensorflow as tf

from poem_cvmim.action import classifier_configs
from poem_cvmim.core import errors
from poem_cvmim.core import graph_partition
from poem_cvmim.core import keypoints


# ST-GCN: (output channels, temporal stride) of the ten blocks; the reference's kernel and rate.
_STGCN_BLOCKS = ((64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2),
                 (256, 1), (256, 1))
_STGCN_TEMPORAL_KERNEL = 9
_STGCN_DROPOUT = 0.5
# PyTorch's batch norm, as in the reference: statistics updated with momentum 0.1 (Keras 0.9)
# and epsilon 1e-5. Keras' default (0.99) averages over ~100 steps: in a run of a few hundred
# steps whose activations still grow, the inference statistics then lag the weights and the
# logits collapse to nearly one class (measured: chance accuracy on the synthetic set).
_BATCH_NORM = dict(momentum=0.9, epsilon=1e-5)
# The reference's `weights_init`: conv kernels N(0, 0.02) with zero biases, batch-norm scales
# N(1, 0.02) with zero offsets (its head is a 1x1 conv, initialised the same way).
# Initializers are made per layer, when the model is built: one made at import would draw its
# seed from Python's `random` before a run seeds it (shifting every later draw of the process,
# e.g. the main job's CV-MIM initialisation), and one instance shared by several layers gives
# every layer of the same shape the same initial values.
def _conv_init() -> dict:
  return dict(kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02),
              bias_initializer='zeros')


def _stgcn_batch_norm() -> dict:
  return dict(_BATCH_NORM, gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))
# HCN: the paper's widths; clips resampled to 32 frames (50-100 % random crop in training,
# centre 90 % at test).
HCN_FRAMES = 32
HCN_TRAIN_CROP = (0.5, 1.0)
HCN_TEST_CROP = 0.9
_HCN_DROPOUT = 0.5


def skeleton_shape(input_shape) -> tuple:
  """(T, V, C) from (T, V, C) or a flat (T, V·C) of 2D keypoints; names the joint counts that
  have a graph when the width fits none."""
  if len(input_shape) == 3:
    frames, joints, channels = input_shape
  elif len(input_shape) == 2:
    frames, width = input_shape
    joints, channels = width // 2, 2
    if width % 2 or joints not in keypoints.SKELETON_GRAPHS:
      known = ', '.join(str(2 * n) for n in sorted(keypoints.SKELETON_GRAPHS))
      raise errors.InputError('Skeleton classifiers take per-frame 2D keypoints; a feature width '
                              f'of {width} is not 2 × a known joint count (widths {known}): give '
                              'raw keypoint features (extract_features --embedder=raw).')
  else:
    raise errors.InputError(f'input_shape must be (T, V, C) or (T, V*C), got {input_shape}.')
  keypoints.graph_for_joints(joints)  # a joint count without a graph is named here
  return int(frames), int(joints), int(channels)


class GraphConvolution(keras.layers.Layer):
  """ST-GCN's spatial convolution: a 1×1 conv to K·C_out channels, then Σ_k X_k (A_k ⊙ M_k)
  over the joints, with M the block's edge-importance mask."""

  def __init__(self, filters, adjacency, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.adjacency = np.asarray(adjacency, np.float32)  # [K, V, V]
    num_subsets = self.adjacency.shape[0]
    self.conv = keras.layers.Conv2D(filters * num_subsets, 1, name='conv', **_conv_init())

  def build(self, input_shape):
    self.conv.build(input_shape)
    self.importance = self.add_weight(shape=self.adjacency.shape, initializer='ones',
                                      name='edge_importance')

  def call(self, inputs):
    num_subsets, joints = self.adjacency.shape[0], self.adjacency.shape[1]
    x = self.conv(inputs)  # [B, T, V, K·C]
    shape = tf.shape(x)
    x = tf.reshape(x, [shape[0], shape[1], joints, num_subsets, self.filters])
    weights = tf.constant(self.adjacency) * self.importance  # [K, V(from), W(to)]
    return tf.einsum('btvkc,kvw->btwc', x, weights)


def _temporal_conv(filters, stride, name):
  """The reference's (9, 1) conv with padding (4, 0): explicit symmetric padding, valid conv."""
  pad = (_STGCN_TEMPORAL_KERNEL - 1) // 2
  return keras.Sequential([
      keras.layers.ZeroPadding2D(((pad, pad), (0, 0))),
      keras.layers.Conv2D(filters, (_STGCN_TEMPORAL_KERNEL, 1), strides=(stride, 1),
                          **_conv_init())],
      name=name)


def _stgcn_block(x, filters, stride, adjacency, residual, dropout, index):
  name = f'stgcn{index}'
  y = GraphConvolution(filters, adjacency, name=f'{name}_gcn')(x)
  y = keras.layers.BatchNormalization(name=f'{name}_tcn_bn0', **_stgcn_batch_norm())(y)
  y = keras.layers.ReLU()(y)
  y = _temporal_conv(filters, stride, f'{name}_tcn_conv')(y)
  y = keras.layers.BatchNormalization(name=f'{name}_tcn_bn1', **_stgcn_batch_norm())(y)
  y = keras.layers.Dropout(dropout)(y)
  if residual:
    if x.shape[-1] == filters and stride == 1:
      shortcut = x
    else:
      shortcut = keras.layers.Conv2D(filters, 1, strides=(stride, 1), name=f'{name}_res',
                                     **_conv_init())(x)
      shortcut = keras.layers.BatchNormalization(name=f'{name}_res_bn',
                                                 **_stgcn_batch_norm())(shortcut)
    y = keras.layers.Add()([y, shortcut])
  return keras.layers.ReLU()(y)


def _stgcn(inputs, num_classes, shape):
  frames, joints, channels = shape
  adjacency = graph_partition.spatial_partition(keypoints.graph_for_joints(joints))
  # Data batch norm over (joint, channel): statistics per joint and coordinate.
  x = keras.layers.Reshape((frames, joints * channels))(inputs)
  x = keras.layers.BatchNormalization(name='data_bn', **_stgcn_batch_norm())(x)
  x = keras.layers.Reshape((frames, joints, channels))(x)
  for index, (filters, stride) in enumerate(_STGCN_BLOCKS):
    first = index == 0
    x = _stgcn_block(x, filters, stride, adjacency, residual=not first,
                     dropout=0.0 if first else _STGCN_DROPOUT, index=index)
  x = keras.layers.GlobalAveragePooling2D()(x)
  return keras.layers.Dense(num_classes, name='logits', **_conv_init())(x)


class TemporalCropResize(keras.layers.Layer):
  """HCN's clip resampling to `frames`: in training a random crop of a fraction in
  `train_crop` of the clip (random start), at inference the centred `test_crop`; then linear
  interpolation to `frames` frames. [B, T, ...] -> [B, frames, ...]; any T ≥ 1 works."""

  def __init__(self, frames=HCN_FRAMES, train_crop=HCN_TRAIN_CROP, test_crop=HCN_TEST_CROP,
               **kwargs):
    super().__init__(**kwargs)
    self.frames, self.train_crop, self.test_crop = frames, tuple(train_crop), test_crop
    self.seed_generator = keras.random.SeedGenerator(name='crop_seed')

  def call(self, inputs, training=None):
    batch = tf.shape(inputs)[0]
    length = tf.cast(tf.shape(inputs)[1], tf.float32)
    if training:
      low, high = self.train_crop
      fraction = keras.random.uniform([batch], low, high, seed=self.seed_generator)
      size = tf.maximum(tf.round(fraction * length), 1.0)
      start = tf.floor(keras.random.uniform([batch], seed=self.seed_generator)
                       * (length - size + 1.0))
    else:
      size = tf.fill([batch], tf.maximum(tf.round(self.test_crop * length), 1.0))
      start = tf.floor((length - size) / 2.0)
    # Positions of the output frames inside the crop, ends included (linear resize).
    steps = tf.linspace(0.0, 1.0, self.frames)[tf.newaxis]
    positions = start[:, tf.newaxis] + steps * (size[:, tf.newaxis] - 1.0)  # [B, frames]
    lower = tf.cast(tf.floor(positions), tf.int32)
    upper = tf.minimum(lower + 1, tf.shape(inputs)[1] - 1)
    weight = positions - tf.floor(positions)
    weight = tf.reshape(weight, tf.concat([tf.shape(weight), tf.ones(
        [tf.rank(inputs) - 2], tf.int32)], axis=0))
    gather = lambda index: tf.gather(inputs, index, batch_dims=1)
    return gather(lower) * (1.0 - weight) + gather(upper) * weight

  def get_config(self):
    return dict(super().get_config(), frames=self.frames, train_crop=self.train_crop,
                test_crop=self.test_crop)


class FrameDifference(keras.layers.Layer):
  """HCN's motion: x[t+1] - x[t] over T - 1 frames, resized back to T frames (bilinear in
  time, half-pixel centres as PyTorch's align_corners=False). [B, T, V, C] -> same."""

  def call(self, inputs):
    motion = inputs[:, 1:] - inputs[:, :-1]
    size = tf.shape(inputs)[1:3]
    return tf.image.resize(motion, size, method='bilinear')


def _hcn_stream(x, name):
  x = keras.layers.Conv2D(64, 1, activation='relu', name=f'{name}_conv1')(x)  # point-level
  x = keras.layers.Conv2D(32, (3, 1), padding='same', name=f'{name}_conv2')(x)  # temporal
  x = keras.layers.Permute((1, 3, 2))(x)  # [B, T, 32, V]: joints become channels
  x = keras.layers.Conv2D(32, 3, padding='same', name=f'{name}_conv3')(x)
  x = keras.layers.MaxPooling2D(2)(x)
  x = keras.layers.Conv2D(64, 3, padding='same', name=f'{name}_conv4')(x)
  x = keras.layers.SpatialDropout2D(_HCN_DROPOUT)(x)
  return keras.layers.MaxPooling2D(2)(x)


def _hcn(inputs, num_classes, shape, frames=HCN_FRAMES):
  _, joints, channels = shape
  x = keras.layers.Reshape((-1, joints, channels))(inputs)
  x = TemporalCropResize(frames, name='resample')(x)
  position = _hcn_stream(x, 'position')
  motion = _hcn_stream(FrameDifference(name='motion')(x), 'motion')
  x = keras.layers.Concatenate()([position, motion])
  for filters, name in ((128, 'conv5'), (256, 'conv6')):
    x = keras.layers.Conv2D(filters, 3, padding='same', activation='relu', name=name)(x)
    x = keras.layers.SpatialDropout2D(_HCN_DROPOUT)(x)
    x = keras.layers.MaxPooling2D(2)(x)
  x = keras.layers.Flatten()(x)
  x = keras.layers.Dense(256, activation='relu', name='fc7')(x)
  x = keras.layers.Dropout(_HCN_DROPOUT)(x)
  return keras.layers.Dense(num_classes, name='fc8')(x)


def logits(classifier_type, inputs, num_classes, hcn_frames=HCN_FRAMES):
  """The logits of a skeleton classifier on Keras inputs [B, T, V, C] or [B, T, V·C]."""
  shape = skeleton_shape(tuple(inputs.shape[1:]))
  if classifier_type == classifier_configs.STGCN:
    return _stgcn(inputs, num_classes, shape)
  return _hcn(inputs, num_classes, shape, hcn_frames)
