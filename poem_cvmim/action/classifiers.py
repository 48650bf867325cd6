"""Temporal action classifiers on per-frame features (docs/protocols.md) and their metrics.

`get_temporal_classifier(classifier_type, input_shape, num_classes)` returns a Keras model
mapping [B, T', D] to logits [B, C]; the skeleton models (STGCN, HCN;
`skeleton_classifiers`) take 2D keypoints, [B, T, V, C] or the flat [B, T, V·C].
"""

import keras
import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.action import classifier_configs
from poem_cvmim.action import skeleton_classifiers
from poem_cvmim.temporal import tdmi


_CONVNET_CHANNELS = (64, 128, 256)
_CONVNET_KERNEL = 7
_CONVNET_DROPOUT = 0.5
_RESNET_WIDTHS_STRIDES = ((64, 2), (128, 2), (256, 1))
_RESNET_DROPOUT = 0.5  # The paper gives no rate; the ConvNet's is used.
_RESTCN_KERNEL = 8
_RESTCN_UNITS = (64, 64, 64, 128, 128, 128, 256, 256, 256)
_RESTCN_DROPOUT = 0.5
_RESTCN_L1 = 1e-4
# The motion stream of CONVNET_TDMI / CONVNET_STREAM (TDMI's encoder over the clip).
_STREAM_WIDTH = 64
_STREAM_STAGES = 2


def _conv(filters, kernel, stride=1, **kwargs):
  return keras.layers.Conv1D(filters, kernel, strides=stride, padding='same', **kwargs)


def _convnet_trunk(inputs):
  """Three strided conv blocks and global average pooling: the Temporal ConvNet's features."""
  x = inputs
  for channels in _CONVNET_CHANNELS:
    x = _conv(channels, _CONVNET_KERNEL, 2, kernel_initializer='he_normal',
              bias_initializer='he_normal')(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dropout(_CONVNET_DROPOUT)(x)
  return keras.layers.GlobalAveragePooling1D()(x)


def _convnet(inputs, num_classes):
  """Three strided conv blocks, global average pooling, a linear layer ("Temporal ConvNet")."""
  return keras.layers.Dense(num_classes, kernel_initializer='he_normal',
                            bias_initializer='he_normal')(_convnet_trunk(inputs))


def _convnet_with_stream(differences):
  """The Temporal ConvNet plus TDMI's motion stream (docs/tdmi.md): its useful motion M_u is
  concatenated with the ConvNet's pooled features before the linear layer."""
  def build(inputs, num_classes):
    pooled = _convnet_trunk(inputs)
    config = tdmi.TdmiConfig(width=_STREAM_WIDTH, num_stages=_STREAM_STAGES,
                             differences=differences)
    useful = tdmi.ClipMotionStream(config, name='motion_stream')(inputs)
    useful = keras.layers.Dropout(_CONVNET_DROPOUT)(useful)
    return keras.layers.Dense(num_classes, kernel_initializer='he_normal',
                              bias_initializer='he_normal')(
                                  keras.layers.Concatenate()([pooled, useful]))
  return build


def _resnet(inputs, num_classes):
  """A 1D ResNet: stem, three bottleneck-free residual blocks with projection shortcuts."""
  x = keras.layers.ReLU()(keras.layers.BatchNormalization()(_conv(64, 7)(inputs)))
  for width, stride in _RESNET_WIDTHS_STRIDES:
    y = _conv(width, 7, stride)(x)
    y = keras.layers.Dropout(_RESNET_DROPOUT)(
        keras.layers.ReLU()(keras.layers.BatchNormalization()(y)))
    y = _conv(width, 5)(y)
    y = keras.layers.Dropout(_RESNET_DROPOUT)(
        keras.layers.ReLU()(keras.layers.BatchNormalization()(y)))
    y = keras.layers.BatchNormalization()(_conv(width, 3)(y))
    shortcut = keras.layers.BatchNormalization()(_conv(width, 1, stride)(x))
    x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
  x = keras.layers.GlobalAveragePooling1D()(x)
  return keras.layers.Dense(num_classes)(x)


def _restcn(inputs, num_classes):
  """Res-TCN (Kim & Reiter 2017) with pre-activation units.

  The original applied a softmax before a loss that expects logits; this head returns logits.
  """
  l1 = keras.regularizers.L1(_RESTCN_L1)
  x = _conv(_RESTCN_UNITS[0], _RESTCN_KERNEL, kernel_regularizer=l1)(inputs)
  width = _RESTCN_UNITS[0]
  for index, units in enumerate(_RESTCN_UNITS):
    stride = 2 if index > 0 and units != _RESTCN_UNITS[index - 1] else 1
    y = keras.layers.BatchNormalization()(x)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Dropout(_RESTCN_DROPOUT)(y)
    y = _conv(units, _RESTCN_KERNEL, stride, kernel_regularizer=l1)(y)
    shortcut = x
    if units != width or stride != 1:
      shortcut = _conv(units, 1, stride, kernel_regularizer=l1)(x)
    x = keras.layers.Add()([shortcut, y])
    width = units
  x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
  x = keras.layers.GlobalAveragePooling1D()(x)
  return keras.layers.Dense(num_classes, kernel_regularizer=l1)(x)


_BUILDERS = {classifier_configs.CONVNET: _convnet, classifier_configs.RESNET: _resnet,
             classifier_configs.RESTCN: _restcn,
             classifier_configs.CONVNET_TDMI: _convnet_with_stream(differences=True),
             classifier_configs.CONVNET_STREAM: _convnet_with_stream(differences=False)}


def get_temporal_classifier(classifier_type: str, input_shape, num_classes: int):
  """A Keras model [B, T', D] -> logits [B, C] (skeleton models: also [B, T, V, C]); an
  unknown type lists the valid ones."""
  if classifier_type not in classifier_configs.CLASSIFIER_TYPES:
    raise errors.InputError(f'Unknown classifier {classifier_type!r}; valid: '
                            f'{", ".join(classifier_configs.CLASSIFIER_TYPES)}.')
  skeleton = classifier_type in classifier_configs.SKELETON_CLASSIFIER_TYPES
  if len(input_shape) not in ((2, 3) if skeleton else (2,)) or num_classes < 2:
    raise errors.InputError(f'input_shape must be (T, D){" or (T, V, C)" if skeleton else ""} and '
                            f'num_classes >= 2, got {input_shape} and {num_classes}.')
  if skeleton:
    skeleton_classifiers.skeleton_shape(input_shape)  # a bad width fails before building
  inputs = keras.Input(shape=tuple(input_shape), name='features')
  if skeleton:
    outputs = skeleton_classifiers.logits(classifier_type, inputs, num_classes)
  else:
    outputs = _BUILDERS[classifier_type](inputs, num_classes)
  return keras.Model(inputs, outputs, name=classifier_type.lower())


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
  """Fraction of rows whose label is among the k largest logits (ties broken by order)."""
  logits, labels = np.asarray(logits), np.asarray(labels)
  if len(labels) == 0:
    raise errors.InputError('top_k_accuracy of an empty set.')
  top = np.argsort(-logits, axis=-1, kind='stable')[:, :k]
  return float(np.mean(np.any(top == labels[:, None], axis=-1)))
