"""What a classifier run is, as data: the classifier kinds, the optimizer recipes, the run
configuration and its per-dataset presets. No TensorFlow here: commands read these to define
their flags, and a command's --help does not load TensorFlow.
"""

import dataclasses

from poem_cvmim.core import errors

# The temporal classifiers on per-frame features (classifiers.py) ...
CONVNET = 'CONVNET'
RESNET = 'RESNET'
RESTCN = 'RESTCN'
# The Temporal ConvNet with TDMI's motion stream over the features' temporal differences, and
# its capacity control (the same stream fed the features themselves).
CONVNET_TDMI = 'CONVNET_TDMI'
CONVNET_STREAM = 'CONVNET_STREAM'
FEATURE_CLASSIFIER_TYPES = (CONVNET, RESNET, RESTCN, CONVNET_TDMI, CONVNET_STREAM)
# ... and the skeleton models on 2D keypoints (skeleton_classifiers.py).
STGCN = 'STGCN'
HCN = 'HCN'
SKELETON_CLASSIFIER_TYPES = (STGCN, HCN)
CLASSIFIER_TYPES = FEATURE_CLASSIFIER_TYPES + SKELETON_CLASSIFIER_TYPES

ADAM_EMA = 'ADAM_EMA'  # the shared recipe: Adam, EMA of the weights for evaluation
ADAM = 'ADAM'
SGD_NESTEROV = 'SGD_NESTEROV'  # momentum 0.9
OPTIMIZERS = (ADAM_EMA, ADAM, SGD_NESTEROV)


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
  classifier: str = CONVNET
  batch_size: int = 32
  num_steps: int = 1000
  learning_rate: float = 5e-3
  ema_momentum: float = 0.99
  checkpoint_interval: int = 1000
  steps_per_loop: int = 50
  # Standardise each feature dimension with the training clips' mean and std (kept in the
  # checkpoint). False (the paper's way) stores mean 0 and std 1.
  standardize_features: bool = False
  optimizer: str = ADAM_EMA
  weight_decay: float = 0.0  # L2: weight_decay / 2 · Σ w² added to the loss (all weights)
  # ×0.1 after each of these epochs (passes over the training clips), as the recipe's source
  # counts them; a run shorter than an epoch boundary never decays there.
  learning_rate_decay_epochs: tuple = ()

  def __post_init__(self):
    if self.classifier not in CLASSIFIER_TYPES:
      raise errors.InputError(f'Unknown classifier {self.classifier!r}; valid: '
                       f'{", ".join(CLASSIFIER_TYPES)}.')
    if self.optimizer not in OPTIMIZERS:
      raise errors.InputError(
          f'Unknown optimizer {self.optimizer!r}; valid: {", ".join(OPTIMIZERS)}.')
    for name in ('batch_size', 'num_steps', 'checkpoint_interval', 'steps_per_loop',
                 'learning_rate'):
      if not getattr(self, name) > 0:  # NaN too
        raise errors.InputError(f'{name} must be a positive number, got {getattr(self, name)}.')
    if self.weight_decay < 0 or any(e <= 0 for e in self.learning_rate_decay_epochs):
      raise errors.InputError('weight_decay must be >= 0 and learning_rate_decay_epochs positive, '
                       f'got {self.weight_decay} and {self.learning_rate_decay_epochs}.')


# The skeleton models' own recipes (applied by `with_recipe`; the dataset preset keeps the
# number of steps). ST-GCN: its NTU config (config/st_gcn/ntu-xsub/train.yaml): SGD Nesterov,
# base_lr 0.1, ×0.1 at epochs 10 and 50 (of 80), weight_decay 1e-4, batch 64. HCN: Li et al.
# 2018 and the public PyTorch port: Adam 1e-3, weight decay 1e-4, batch 64.
RECIPES = {
    STGCN: dict(optimizer=SGD_NESTEROV, learning_rate=0.1, weight_decay=1e-4,
                            learning_rate_decay_epochs=(10, 50), batch_size=64),
    HCN: dict(optimizer=ADAM, learning_rate=1e-3, weight_decay=1e-4, batch_size=64),
}


def with_recipe(config: ClassifierConfig, **overrides) -> ClassifierConfig:
  """`config` with its classifier's own recipe (if it has one), then `overrides`."""
  values = dict(RECIPES.get(config.classifier, {}))
  values.update(overrides)
  return dataclasses.replace(config, **values)


# Per-dataset defaults (batch size, steps); the paper's schedule is not published.
PRESETS = {
    'synthetic': ClassifierConfig(batch_size=32, num_steps=300),
    'penn_action': ClassifierConfig(batch_size=64, num_steps=3000),
    'ntu_rgbd': ClassifierConfig(batch_size=128, num_steps=20000),
    'smoke': ClassifierConfig(batch_size=8, num_steps=6, steps_per_loop=3,
                              checkpoint_interval=3),
}
