"""Throughput of the CV-MIM update against a bare reference of the same Dense layers.

Both run compiled on one device on random normalised poses. The reference is built of Dense
layers of the same shapes as E and the critic, runs them forward and backward on the anchor and
the positive batch and applies Adagrad, with no losses, batch norm, dropout, Q or D: the ratio
shows what the method costs on top of the matrix products.
"""

import time

import keras
import tensorflow as tf

from poem_cvmim.core import keypoints
from poem_cvmim.representation import configs
from poem_cvmim.representation.algorithms import registry

_NUM_JOINTS = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).keypoint_num


def _reference_layers(hidden=1024, embedding=64, critic=32, blocks=2, layers_per_block=2):
  def stack(units_list):
    return [keras.layers.Dense(u, activation='relu') for u in units_list[:-1]] + [
        keras.layers.Dense(units_list[-1])]
  residual = [hidden] * (blocks * layers_per_block)
  encoder = stack([hidden] + residual + [embedding])
  head = stack(residual + [critic])
  return encoder, head


def bare_reference(batch_size: int):
  """A compiled step of the same Dense shapes as E + critic, forward and backward."""
  encoder, head = _reference_layers()
  optimizer = keras.optimizers.Adagrad(0.02, initial_accumulator_value=0.1)

  def forward(x):
    x = tf.reshape(x, [batch_size, -1])
    fc0 = encoder[0](x)
    h = fc0
    for layer in encoder[1:]:
      h = layer(h)
    s = fc0
    for layer in head:
      s = layer(s)
    return tf.reduce_mean(h) + tf.reduce_mean(s)

  variables = []

  @tf.function
  def step(anchor, positive):
    with tf.GradientTape() as tape:
      loss = forward(anchor) + forward(positive)
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return loss

  forward(tf.zeros([batch_size, _NUM_JOINTS, 2]))
  variables.extend(v for layer in encoder + head for v in layer.trainable_variables)
  optimizer.build(variables)
  return step


def cvmim_step(batch_size: int):
  del batch_size
  algorithm = registry.create_algorithm(configs.AlgorithmConfig())
  algorithm.build()
  return tf.function(algorithm.update)


def steps_per_second(step, batch_size: int, steps: int, warmup: int = 3) -> float:
  anchor = tf.random.normal([batch_size, _NUM_JOINTS, 2], stddev=0.3)
  positive = tf.random.normal([batch_size, _NUM_JOINTS, 2], stddev=0.3)
  for _ in range(warmup):
    tf.nest.map_structure(lambda t: t.numpy(), step(anchor, positive))
  start = time.perf_counter()
  for _ in range(steps):
    result = step(anchor, positive)
  tf.nest.map_structure(lambda t: t.numpy(), result)
  return steps / (time.perf_counter() - start)
