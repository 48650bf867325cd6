"""Training and evaluation of temporal action classifiers on feature sets.

Softmax cross-entropy on logits (+ layer regularisation). The shared recipe (`ADAM_EMA`):
Adam 5e-3 constant with an exponential moving average of the weights (decay 0.99, Keras 3's
`use_ema`); evaluation uses the EMA weights at the end of training, never a checkpoint picked
on the test set. The skeleton models bring their authors' recipes (`RECIPES`): SGD with
Nesterov momentum and step decay for ST-GCN, Adam for HCN, both with L2 weight decay added to
the loss as PyTorch's `weight_decay` does; without EMA they are evaluated with the final
weights.

Features go to the classifier as they are, as in the paper. `standardize_features=True`
standardises each dimension with the training clips' mean and standard deviation (kept in the
checkpoint). It was once the default, to cope with z_p "in the hundreds" — the symptom of
encoders restored without their batch-norm statistics. With the statistics restored it changes
CV-MIM's single-shot average on the synthetic set by 0.4 points (79.9 with, 80.3 without), and
it hurts the raw-keypoint baseline by 14.6 points (47.4 with, 62.0 without): statistics of one
training view inflate the dimensions that view barely moves.
"""

import collections
import dataclasses
import json
import os
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from poem_cvmim.action import classifier_configs
from poem_cvmim.action import classifiers
from poem_cvmim.core import checkpointing
from poem_cvmim.core import errors
from poem_cvmim.core import feature_tables
from poem_cvmim.core import training_loop


_MOMENTUM = 0.9
_LEARNING_RATE_DECAY = 0.1  # after each of `learning_rate_decay_epochs`


@dataclasses.dataclass
class TrainedClassifier:
  """A classifier and the feature standardisation it was trained with."""
  model: keras.Model
  mean: tf.Variable  # [D]
  std: tf.Variable  # [D]
  steps: int = 0  # the steps it was trained for

  def logits(self, features):
    return self.model((features - self.mean) / self.std, training=False)


def _checkpoint(model, optimizer, mean, std) -> tf.train.Checkpoint:
  """The one layout of a classifier run's checkpoint (training and re-evaluation share it);
  re-evaluation without an EMA reads it without the optimizer (`optimizer=None`)."""
  items = dict(model=model, feature_mean=mean, feature_std=std,
               random_states=checkpointing.seed_states(model))
  if optimizer is not None:
    items['optimizer'] = optimizer
  return tf.train.Checkpoint(**items)


# The optimizer's step counter in a run's checkpoint (whatever the optimizer).
_ITERATIONS_KEY = 'optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE'
_FEATURE_MEAN_KEY = 'feature_mean/.ATTRIBUTES/VARIABLE_VALUE'


def learning_rate_schedule(config: classifier_configs.ClassifierConfig, num_train_clips: int = 1):
  """The learning rate: a constant, or ×0.1 after each decay epoch (an epoch is
  num_train_clips / batch_size steps)."""
  if not config.learning_rate_decay_epochs:
    return config.learning_rate
  steps_per_epoch = num_train_clips / config.batch_size
  boundaries = [max(1, round(e * steps_per_epoch)) for e in config.learning_rate_decay_epochs]
  return keras.optimizers.schedules.PiecewiseConstantDecay(
      boundaries, [config.learning_rate * _LEARNING_RATE_DECAY ** i
                   for i in range(len(boundaries) + 1)])


def _optimizer(config: classifier_configs.ClassifierConfig, num_train_clips: int = 1):
  """The recipe's optimizer (with its learning-rate schedule)."""
  rate = learning_rate_schedule(config, num_train_clips)
  if config.optimizer == classifier_configs.SGD_NESTEROV:
    return keras.optimizers.SGD(rate, momentum=_MOMENTUM, nesterov=True)
  if config.optimizer == classifier_configs.ADAM:
    return keras.optimizers.Adam(rate)
  return keras.optimizers.Adam(rate, use_ema=True, ema_momentum=config.ema_momentum)


def restore_classifier(run_dir: str, classifier_type: str, input_shape,
                       num_classes: int,
                       optimizer: str = classifier_configs.ADAM_EMA) -> TrainedClassifier:
  """The evaluation weights (EMA for `ADAM_EMA`, else the final ones) and standardisation of
  the latest checkpoint in `run_dir`; `optimizer` is the run's (result.json)."""
  checkpoint_path = tf.train.latest_checkpoint(run_dir)
  if not checkpoint_path:
    raise FileNotFoundError(f'No checkpoint in {run_dir}.')
  shapes = tf.train.load_checkpoint(checkpoint_path).get_variable_to_shape_map()
  trained_dim = shapes.get(_FEATURE_MEAN_KEY, [None])[-1]
  if trained_dim is not None and trained_dim != input_shape[-1]:
    raise errors.InputError(f'{run_dir} holds a classifier of {trained_dim} input features a '
                            f'frame; these features have {input_shape[-1]}.')
  model = classifiers.get_temporal_classifier(classifier_type, input_shape, num_classes)
  ema = None
  if optimizer == classifier_configs.ADAM_EMA:  # the averaged weights live in the optimizer
    ema = _optimizer(classifier_configs.ClassifierConfig(classifier=classifier_type))
    ema.build(model.trainable_variables)
  mean = tf.Variable(tf.zeros([input_shape[-1]]), trainable=False)
  std = tf.Variable(tf.ones([input_shape[-1]]), trainable=False)
  _checkpoint(model, ema, mean, std).read(checkpoint_path).expect_partial()
  if ema is not None:
    ema.finalize_variable_values(model.trainable_variables)
  steps = tf.train.load_checkpoint(checkpoint_path).get_tensor(_ITERATIONS_KEY)
  return TrainedClassifier(model, mean, std, int(steps))


def _standardization(train: feature_tables.FeatureSet, standardize: bool = True):
  if not standardize:
    dim = train.features.shape[-1]
    return np.zeros(dim, np.float32), np.ones(dim, np.float32)
  mean = train.features.mean(axis=(0, 1))
  std = train.features.std(axis=(0, 1)) + 1e-6  # a constant dimension is left unscaled
  return mean.astype(np.float32), std.astype(np.float32)


def _dataset(train: feature_tables.FeatureSet, mean, std, batch_size: int, seed: int):
  dataset = tf.data.Dataset.from_tensor_slices(((train.features - mean) / std, train.labels))
  dataset = dataset.shuffle(len(train), seed=seed, reshuffle_each_iteration=True).repeat()
  return dataset.batch(batch_size, drop_remainder=True).prefetch(2).with_options(
      fixed_pipeline_options())


def fixed_pipeline_options() -> tf.data.Options:
  """tf.data without autotuning. Its background tuner took CPU from 300-step runs on two
  cores: runs took 6 s or 10-14 s at random (and up to 4 s more to delete the iterator)
  where without it every run took 5-6 s. The batch order does not depend on it."""
  options = tf.data.Options()
  options.autotune.enabled = False
  return options




@dataclasses.dataclass
class _Session:
  """A model, its optimizer, the standardisation and the traced loop that trains them."""
  model: keras.Model
  optimizer: keras.optimizers.Optimizer
  mean: tf.Variable
  std: tf.Variable
  loop: Callable
  traces: list  # one entry per trace of `loop` (tests check a run reuses the trace)


def _pool_key(config: classifier_configs.ClassifierConfig, input_shape, num_classes,
              num_train_clips):
  """What the traced loop depends on: shapes and every recipe field the step reads."""
  recipe = dataclasses.asdict(config)
  for schedule_only in ('num_steps', 'checkpoint_interval', 'steps_per_loop',
                        'standardize_features'):
    recipe.pop(schedule_only)
  if config.learning_rate_decay_epochs:  # the boundaries are in steps of this many clips
    recipe['num_train_clips'] = num_train_clips
  return (json.dumps(recipe, sort_keys=True), tuple(input_shape), num_classes,
          keras.config.floatx())


def _fresh(config, input_shape, num_classes, num_train_clips, seed, strategy):
  """The model and optimizer a run starts from, built with the run's seed."""
  keras.utils.set_random_seed(seed)
  with strategy.scope():
    model = classifiers.get_temporal_classifier(config.classifier, input_shape, num_classes)
    optimizer = _optimizer(config, num_train_clips)
    optimizer.build(model.trainable_variables)
  return model, optimizer


def _copy_state(target_model, target_optimizer, source_model, source_optimizer=None):
  """Assigns every weight, dropout seed state and (given) optimizer variable of the source."""
  pairs = list(zip(target_model.weights, source_model.weights))
  pairs += zip(checkpointing.seed_states(target_model), checkpointing.seed_states(source_model))
  if source_optimizer is not None:
    pairs += zip(target_optimizer.variables, source_optimizer.variables)
  for target, source in pairs:
    target.assign(source)


def _new_session(config, model, optimizer, dim, strategy) -> _Session:
  with strategy.scope():
    mean = tf.Variable(tf.zeros([dim]), trainable=False)
    std = tf.Variable(tf.ones([dim]), trainable=False)
  traces = []

  def step(x, y):
    with tf.GradientTape() as tape:
      logits = model(x, training=True)
      per_example = tf.keras.losses.sparse_categorical_crossentropy(y, logits,
                                                                    from_logits=True)
      # Mean over the global batch: each replica sums its share / the global batch size.
      loss = tf.nn.compute_average_loss(per_example, global_batch_size=config.batch_size)
      if model.losses:
        loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
      if config.weight_decay:  # PyTorch's weight_decay: grad += wd · w on every weight
        loss += tf.nn.scale_regularization_loss(0.5 * config.weight_decay * tf.add_n(
            [tf.reduce_sum(tf.square(w)) for w in model.trainable_variables]))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))
    return loss

  @tf.function
  def loop(iterator, num_steps):
    traces.append(1)
    loss = tf.constant(0.0)
    for _ in tf.range(num_steps):
      loss = strategy.reduce('SUM', strategy.run(step, args=next(iterator)), axis=None)
    return {'loss': loss}

  return _Session(model, optimizer, mean, std, loop, traces)


class ClassifierPool:
  """Built and traced classifier sessions, kept for later runs of the same shape and recipe.

  Tracing the training loop costs more than a short run's steps, so the runs of a protocol or
  a plan share one traced model per shape and recipe: each run re-initialises it from a model
  built with its own seed, so it trains exactly as a model built for it would (tested). The
  caller creates a pool for a batch of runs and passes it to `train_classifier`; it keeps at
  most `size` sessions, dropping the least recently used.
  """

  def __init__(self, size: int = 4):
    self.size = size
    self._sessions = collections.OrderedDict()

  def session(self, config, train, num_classes, seed, strategy):
    """(the session a run trains in, holding its seed's initial state; that fresh model)."""
    input_shape, num_train_clips = train.features.shape[1:], len(train)
    model, optimizer = _fresh(config, input_shape, num_classes, num_train_clips, seed, strategy)
    key = _pool_key(config, input_shape, num_classes, num_train_clips)
    session = self._sessions.pop(key, None)
    if session is None:
      # The pool keeps its own model: the fresh one goes back to the caller after training.
      pooled, pooled_optimizer = _fresh(config, input_shape, num_classes, num_train_clips, seed,
                                        strategy)
      session = _new_session(config, pooled, pooled_optimizer, input_shape[-1], strategy)
    else:
      _copy_state(session.model, session.optimizer, model, optimizer)
    self._sessions[key] = session
    while len(self._sessions) > self.size:
      self._sessions.popitem(last=False)
    return session, model

  def get(self, config, train, num_classes) -> Optional['_Session']:
    """The session kept for runs like this one (None: none yet)."""
    key = _pool_key(config, train.features.shape[1:], num_classes, len(train))
    return self._sessions.get(key)


def train_classifier(config: classifier_configs.ClassifierConfig, train: feature_tables.FeatureSet,
                     num_classes: int, seed: int = 0, output_dir: Optional[str] = None,
                     strategy=None, verbose: bool = False,
                     pool: Optional[ClassifierPool] = None):
  """Trains a classifier (resuming from `output_dir` if it holds a checkpoint).

  With a `pool` (on the default strategy), it trains in a model built and traced by an
  earlier run of the same shape and recipe, re-initialised to what this run's seed builds;
  without one, in a model built for it. Returns a TrainedClassifier holding its own model with
  the evaluation (EMA) weights.
  """
  if len(train) == 0:
    raise errors.InputError('The training set is empty: nothing to train on.')
  reuse = pool is not None and strategy is None
  strategy = strategy or tf.distribute.get_strategy()
  if reuse:
    session, result_model = pool.session(config, train, num_classes, seed, strategy)
  else:
    result_model, optimizer = _fresh(config, train.features.shape[1:], num_classes, len(train),
                                     seed, strategy)
    session = _new_session(config, result_model, optimizer, train.features.shape[-1], strategy)
  mean, std = _standardization(train, config.standardize_features)
  session.mean.assign(mean)
  session.std.assign(std)
  optimizer = session.optimizer
  manager = None
  if output_dir:
    checkpoint = _checkpoint(session.model, optimizer, session.mean, session.std)
    manager = tf.train.CheckpointManager(checkpoint, output_dir, max_to_keep=1)
    manager.restore_or_initialize()

  iterator = iter(strategy.experimental_distribute_dataset(
      _dataset(train, session.mean.numpy(), session.std.numpy(), config.batch_size, seed)))
  training_loop.Controller(
      run=lambda num_steps: session.loop(iterator, num_steps),
      step=lambda: int(optimizer.iterations.numpy()),
      cadence=training_loop.Cadence(config.num_steps,
                                    config.checkpoint_interval if manager else None,
                                    config.steps_per_loop),
      checkpoint_manager=manager, verbose=verbose).train()
  steps = int(optimizer.iterations.numpy())
  if session.model is result_model:
    optimizer.finalize_variable_values(result_model.trainable_variables)
  else:  # the pooled model's final weights, EMA swapped in, go to the caller's own model
    _copy_state(result_model, None, session.model)
    optimizer.finalize_variable_values(result_model.trainable_variables)
  return TrainedClassifier(result_model, tf.Variable(session.mean, trainable=False),
                           tf.Variable(session.std, trainable=False), steps)


def predict(classifier: TrainedClassifier, features: np.ndarray,
            batch_size: int = 256) -> np.ndarray:
  return np.concatenate([classifier.logits(features[i:i + batch_size]).numpy()
                         for i in range(0, len(features), batch_size)])


def evaluate(classifier: TrainedClassifier, test: feature_tables.FeatureSet) -> dict:
  """Top-1 and top-5 accuracy over all clips and per view: {'all': {...}, 'per_view': {...}}."""
  if len(test) == 0:
    raise errors.InputError('The test set is empty.')
  logits = predict(classifier, test.features)

  def scores(mask):
    return {'top1': classifiers.top_k_accuracy(logits[mask], test.labels[mask], 1),
            'top5': classifiers.top_k_accuracy(logits[mask], test.labels[mask], 5),
            'num_clips': int(np.sum(mask))}

  per_view = {view: scores(test.views == view) for view in sorted(set(test.views))}
  return {'all': scores(np.ones(len(test), bool)), 'per_view': per_view,
          'mean_over_views': float(np.mean([v['top1'] for v in per_view.values()]))}


def run_dir(root: str, *parts) -> str:
  path = os.path.join(root, *[str(p) for p in parts])
  os.makedirs(path, exist_ok=True)
  return path
