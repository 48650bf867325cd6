"""What checkpoints need beyond `tf.train.Checkpoint`'s object graph."""

import keras


def seed_states(model: keras.layers.Layer) -> list:
  """The state variables of the random-seed generators (dropout) of every layer of `model`.

  Keras keeps them outside TensorFlow's object graph, so checkpoints list them explicitly:
  a resumed run then draws the dropout masks the uninterrupted run would have drawn.
  """
  return [layer.seed_generator.state for layer in model._flatten_layers()  # pylint: disable=protected-access
          if isinstance(getattr(layer, 'seed_generator', None), keras.random.SeedGenerator)]
