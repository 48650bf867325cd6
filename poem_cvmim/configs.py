"""Typed configurations of representation training, with named presets (SPEC §5.4, §9).

Configs are frozen dataclasses validated on construction; the error names the value and the
valid choices. Presets are functions; each has a `smoke` twin that the tests run.
"""

import dataclasses
from typing import Optional

ALGORITHM_DISENTANGLE = 'DISENTANGLE'
ALGORITHM_ALIGN = 'ALIGN'
ALGORITHM_AUTOENCODER = 'AUTOENCODER'
ALGORITHM_INFOMAX = 'INFOMAX'
ALGORITHM_INFONCE = 'INFONCE'
ALGORITHMS = (ALGORITHM_DISENTANGLE, ALGORITHM_ALIGN, ALGORITHM_AUTOENCODER, ALGORITHM_INFOMAX,
              ALGORITHM_INFONCE)
_EMBEDDERS = ('POINT', 'GAUSSIAN')
_FUSIONS = ('CAT', 'POE', 'MOE')
_INPUT_TYPES = ('2D_INPUT', '3D_PROJECTION', '2D_INPUT_AND_3D_PROJECTION')
STRATEGIES = ('mirrored', 'multi_worker', 'default')


def _choose(name, value, choices):
  if value not in choices:
    raise ValueError(f'Unknown {name} {value!r}; valid: {", ".join(choices)}.')


def _positive(**values):
  for name, value in values.items():
    if value <= 0:
      raise ValueError(f'{name} must be positive, got {value}.')


@dataclasses.dataclass(frozen=True)
class AlgorithmConfig:
  """What is learned and how (defaults: the paper's CV-MIM)."""
  algorithm: str = ALGORITHM_DISENTANGLE
  pose_embedding_dim: int = 32
  view_embedding_dim: int = 32
  embedder: str = 'POINT'
  fusion: str = 'MOE'
  view_loss_weight: float = 5.0
  disentangle_loss_weight: float = 0.5
  regularization_loss_weight: float = 1.0
  use_prior: bool = True  # False: Table 5 "w/o L_prior" (no prior term, no D).
  dropout_rate: float = 0.25
  learning_rate: float = 0.02
  # Adagrad as in the original: initial accumulator 0.1, epsilon 1e-7.
  initial_accumulator_value: float = 0.1
  epsilon: float = 1e-7

  def __post_init__(self):
    _choose('algorithm', self.algorithm, ALGORITHMS)
    _choose('embedder', self.embedder, _EMBEDDERS)
    _choose('fusion', self.fusion, _FUSIONS)
    _positive(pose_embedding_dim=self.pose_embedding_dim,
              view_embedding_dim=self.view_embedding_dim, learning_rate=self.learning_rate)
    if self.fusion != 'CAT' and self.algorithm in (ALGORITHM_DISENTANGLE, ALGORITHM_INFOMAX,
                                                   ALGORITHM_INFONCE):
      if self.pose_embedding_dim != self.view_embedding_dim:
        raise ValueError(f'Fusion {self.fusion} needs equal pose and view embedding widths, '
                         f'got pose_embedding_dim={self.pose_embedding_dim} and '
                         f'view_embedding_dim={self.view_embedding_dim}.')
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f'dropout_rate must be in [0, 1), got {self.dropout_rate}.')


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How representation training runs (SPEC §5.6, §9)."""
  input_table: str = ''  # comma-separated file patterns of pair records
  output_dir: str = ''
  algorithm: AlgorithmConfig = AlgorithmConfig()
  batch_size: int = 256  # global batch, across all replicas
  num_steps: int = 5000
  input_type: str = '2D_INPUT_AND_3D_PROJECTION'
  profile_2d: str = 'LEGACY_2DCOCO13'
  profile_3d: str = 'LEGACY_3DH36M17'
  shuffle_in_step: bool = True  # shuffle each batch inside the step, as the original
  shuffle_buffer_size: int = 4096
  checkpoint_interval: int = 1000
  summary_interval: int = 100
  max_checkpoints: int = 3
  seed: Optional[int] = None
  strategy: str = 'mirrored'
  jit_compile: bool = False  # XLA: single-device runs only (SPEC §9)
  peer_timeout_s: float = 300.0  # how long a worker waits for its peers

  def __post_init__(self):
    _choose('input_type', self.input_type, _INPUT_TYPES)
    _choose('strategy', self.strategy, STRATEGIES)
    _positive(batch_size=self.batch_size, num_steps=self.num_steps,
              checkpoint_interval=self.checkpoint_interval,
              summary_interval=self.summary_interval, max_checkpoints=self.max_checkpoints)
    if self.input_type != '2D_INPUT' and not self.profile_3d:
      raise ValueError(f'input_type {self.input_type} needs a 3D profile.')


def paper(**overrides) -> TrainConfig:
  """The paper's CV-MIM training: batch 256, Adagrad 0.02, 5,000 steps by default."""
  return dataclasses.replace(TrainConfig(), **overrides)


def smoke(**overrides) -> TrainConfig:
  """A few seconds of training: small batch, few steps, frequent checkpoints and summaries."""
  values = dict(batch_size=16, num_steps=4, checkpoint_interval=2, summary_interval=2,
                shuffle_buffer_size=64, seed=0)
  values.update(overrides)
  return dataclasses.replace(TrainConfig(), **values)


def beta_vae(beta: float = 4.0, **overrides) -> AlgorithmConfig:
  """The beta-VAE baseline: the Gaussian auto-encoder with the KL weighted by beta."""
  return AlgorithmConfig(algorithm=ALGORITHM_AUTOENCODER, embedder='GAUSSIAN',
                         regularization_loss_weight=beta, **overrides)
