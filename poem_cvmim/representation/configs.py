"""Typed configurations of representation training, with named presets.

Configs are frozen dataclasses validated on construction; the error names the value and the
valid choices. Presets are functions (`paper`, `synthetic_schedule`, `general`, and the tiny
`smoke_config` the tests run); a preset of every kind in the project is spelt `smoke_config`
(data, encoder, main job) or `PRESETS[name]` where a flag chooses among several.
"""

import dataclasses
import math
from typing import Optional

from poem_cvmim.core import cameras
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.representation import mining

ALGORITHM_DISENTANGLE = 'DISENTANGLE'
ALGORITHM_ALIGN = 'ALIGN'
ALGORITHM_AUTOENCODER = 'AUTOENCODER'
ALGORITHM_INFOMAX = 'INFOMAX'
ALGORITHM_INFONCE = 'INFONCE'
ALGORITHM_PR_VIPE = 'PR_VIPE'
ALGORITHM_MCSS = 'MCSS'
ALGORITHMS = (ALGORITHM_DISENTANGLE, ALGORITHM_ALIGN, ALGORITHM_AUTOENCODER, ALGORITHM_INFOMAX,
              ALGORITHM_INFONCE, ALGORITHM_PR_VIPE, ALGORITHM_MCSS)
# Algorithms whose loss reads the 3D poses of the pair records (whatever the input type).
ALGORITHMS_NEEDING_3D = (ALGORITHM_PR_VIPE, ALGORITHM_MCSS)
ALGORITHMS_WITH_TEMPORAL_NEGATIVES = (ALGORITHM_DISENTANGLE, ALGORITHM_PR_VIPE)
HARD_NEGATIVE_SCOPES = mining.HARD_NEGATIVE_SCOPES
# Mean joint distance of two profile-normalised 2D poses of one camera below which they count
# as the same pose (docs/mining.md: what NP-MPJPE 0.1 is in one camera on the synthetic set).
PERIODIC_GUARD_2D = 0.06
# Instants per clip of the clip-grouped sampler when temporal negatives are on and no number
# is given.
DEFAULT_INSTANTS_PER_CLIP = 8
# The encoder's heads and the fusions of z_p and z_v (representation/networks.py builds them).
EMBEDDER_POINT = 'POINT'
EMBEDDER_GAUSSIAN = 'GAUSSIAN'
EMBEDDER_TYPES = (EMBEDDER_POINT, EMBEDDER_GAUSSIAN)
# The Gaussian embedder's log-variance from its linear head x, bounded by ±B (networks.py):
# SOFT = B·tanh(x / B), the identity near 0; TANH = B·tanh(x), what runs before SOFT used.
GAUSSIAN_LOGVAR_SOFT = 'SOFT'
GAUSSIAN_LOGVAR_TANH = 'TANH'
GAUSSIAN_LOGVARS = (GAUSSIAN_LOGVAR_SOFT, GAUSSIAN_LOGVAR_TANH)
FUSION_CAT = 'CAT'  # concatenation
FUSION_POE = 'POE'  # "product of experts": element-wise product
FUSION_MOE = 'MOE'  # "mixture of experts": average
FUSION_TYPES = (FUSION_CAT, FUSION_POE, FUSION_MOE)
_INPUT_TYPES = cameras.INPUT_TYPES
INPUT_2D = cameras.INPUT_2D
STRATEGIES = ('mirrored', 'multi_worker', 'default')


def _choose(name, value, choices):
  if value not in choices:
    raise errors.InputError(f'Unknown {name} {value!r}; valid: {", ".join(choices)}.')


def _positive(**values):
  for name, value in values.items():
    if not value > 0:  # NaN too
      raise errors.InputError(f'{name} must be a positive number, got {value}.')


@dataclasses.dataclass(frozen=True)
class PrVipeOptions:
  """Pr-VIPE's own settings (the original's flag names; `pr_vipe()` also sets the shared
  fields it changes: embedding 16, dropout 0.3, KL weight 0.001)."""
  num_embedding_samples: int = 20
  triplet_loss_margin: float = math.log(2.0)
  min_negative_keypoint_mpjpe: float = 0.1
  positive_pairwise_loss_weight: float = 0.005
  sigmoid_raw_a_initial: float = -0.65
  sigmoid_b_initial: float = -0.5
  # Semi-hard negatives are mined on the distances the loss uses (between the samples), as the
  # original's code does; True mines on the distances between the means (what its flag
  # `replace_samples_with_means` names, and this port did before: runs written then read so).
  mine_on_means: bool = dataclasses.field(default=False, metadata={
      'added': True, 'absent': True, 'unkeyed': True, 'only_for': (ALGORITHM_PR_VIPE,)})

  def __post_init__(self):
    _positive(num_embedding_samples=self.num_embedding_samples,
              min_negative_keypoint_mpjpe=self.min_negative_keypoint_mpjpe)
    if self.triplet_loss_margin < 0.0:
      raise errors.InputError(f'triplet_loss_margin must be >= 0, got {self.triplet_loss_margin}.')


@dataclasses.dataclass(frozen=True)
class MiningOptions:
  """Temporal hard negatives (MCSS, Mitra et al. 2020; docs/mining.md), read by CV-MIM,
  Pr-VIPE and MCSS.

  With `temporal_negatives`, CV-MIM's cross-view term also contrasts each anchor with frames of
  its own clip at least `negative_gap` frames away (weighted `hard_negative_weight` against the
  batch's other negatives); frames of the clip closer than `ignore_gap` are no negatives.
  Periodic motion repeats a pose far in time: a pair within NP-MPJPE `periodic_guard_mpjpe` (3D)
  or, in records without 3D, seen by one camera within `periodic_guard_2d` (mean joint distance
  of the normalised 2D poses) is no negative either."""
  temporal_negatives: bool = False
  hard_negative_weight: float = 8.0
  # 'clip' (MCSS): the hard negatives are the anchor's clip's far frames seen by its camera;
  # 'camera': also every other clip's frames seen by that camera (docs/mining.md).
  hard_negative_scope: str = 'clip'
  negative_gap: int = 8
  ignore_gap: int = 4
  periodic_guard_mpjpe: float = 0.1
  periodic_guard_2d: float = PERIODIC_GUARD_2D

  def __post_init__(self):
    if not 1 <= self.negative_gap or not 0 <= self.ignore_gap <= self.negative_gap:
      raise errors.InputError(f'Need 1 <= negative_gap and 0 <= ignore_gap <= negative_gap, got '
                              f'negative_gap={self.negative_gap}, ignore_gap={self.ignore_gap}.')
    if not self.hard_negative_weight >= 0.0:
      raise errors.InputError(f'hard_negative_weight must be >= 0, got '
                              f'{self.hard_negative_weight}.')
    _choose('hard_negative_scope', self.hard_negative_scope, HARD_NEGATIVE_SCOPES)
    _positive(periodic_guard_mpjpe=self.periodic_guard_mpjpe,
              periodic_guard_2d=self.periodic_guard_2d)


@dataclasses.dataclass(frozen=True)
class McssOptions:
  """MCSS (Mitra et al. 2020; docs/mcss.md): a triplet loss on the L2-normalised embedding
  (positive: the same instant seen by the other camera; negatives: the clip's frames at least
  `mining.negative_gap` away, periodic repeats left out) with margin `mcss_margin`, plus a 3D
  head on the embedding trained with MPJPE (weight `lifting_loss_weight`) on the rows whose
  clip is among the `fraction_with_3d` chosen to keep its 3D (Pr-VIPE reads the fraction too).
  `multiview_loss_weight` 0: the head alone (the supervised baseline)."""
  fraction_with_3d: float = 1.0
  mcss_margin: float = 0.2
  multiview_loss_weight: float = 1.0
  lifting_loss_weight: float = 1.0

  def __post_init__(self):
    if not 0.0 < self.fraction_with_3d <= 1.0:
      raise errors.InputError(f'fraction_with_3d must be in (0, 1], got {self.fraction_with_3d}.')
    if self.mcss_margin < 0.0 or self.multiview_loss_weight < 0.0 or self.lifting_loss_weight < 0:
      raise errors.InputError('mcss_margin, multiview_loss_weight and lifting_loss_weight must '
                              f'be >= 0, got {self.mcss_margin}, {self.multiview_loss_weight}, '
                              f'{self.lifting_loss_weight}.')


# Field metadata of a field added after config files were first written: a file without it
# reads as written with the field's default (which leaves the older behaviour unchanged).
_ADDED = {'added': True}
# More keys a field added later may carry (read by config_files): 'unkeyed', the value at which
# `config_files.flat_dict` leaves it out of the run plan's key (the behaviour before the field
# existed), so that adding it renamed no encoder directory; 'only_for', the algorithms it
# concerns (left out of the key for the others); 'only_for_embedders', likewise for embedders;
# 'absent', what a file of one of those algorithms (and embedders) without the field reads as,
# where that is not the default (runs written before it behaved otherwise).


def concerns(meta, algorithm: str, embedder: str) -> bool:
  """Whether a field with metadata `meta` matters to an algorithm with this embedder."""
  return (algorithm in meta.get('only_for', ALGORITHMS)
          and embedder in meta.get('only_for_embedders', EMBEDDER_TYPES))


# The option groups of AlgorithmConfig: {field name: its dataclass}. A method's own settings
# live in its group, so a new method adds a group instead of fields every method carries.
OPTION_GROUPS = {'pr_vipe': PrVipeOptions, 'mining': MiningOptions, 'mcss': McssOptions}


@dataclasses.dataclass(frozen=True)
class AlgorithmConfig:
  """What is learned and how (defaults: the paper's CV-MIM); each method's own settings in its
  option group (`pr_vipe`, `mining`, `mcss`)."""
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
  # Not in the paper: weight of the squared L2 distance between the two views' z_p (CV-MIM
  # only; docs/losses.md, "View alignment"). 0: the original's loss.
  alignment_loss_weight: float = dataclasses.field(default=0.0, metadata={
      'added': True, 'unkeyed': 0.0})
  # The Gaussian embedder's log-variance (VAE, beta-VAE). TANH starts at variances up to e^10
  # and drives every log-variance to -10 in the first steps, where its gradient vanishes
  # (docs/results.md, 2026-12-06): runs written before SOFT existed read as TANH.
  gaussian_logvar: str = dataclasses.field(default=GAUSSIAN_LOGVAR_SOFT, metadata={
      'added': True, 'unkeyed': GAUSSIAN_LOGVAR_TANH,
      'only_for_embedders': (EMBEDDER_GAUSSIAN,), 'absent': GAUSSIAN_LOGVAR_TANH})
  # Added after the first config files: absent from a file, they take their defaults.
  pr_vipe: PrVipeOptions = dataclasses.field(default=PrVipeOptions(), metadata=_ADDED)
  mining: MiningOptions = dataclasses.field(default=MiningOptions(), metadata=_ADDED)
  mcss: McssOptions = dataclasses.field(default=McssOptions(), metadata=_ADDED)

  @property
  def uses_clip_batches(self) -> bool:
    """Whether the loss compares instants of one clip (needs clip-grouped batches)."""
    return self.mining.temporal_negatives or self.algorithm == ALGORITHM_MCSS

  def __post_init__(self):
    _choose('algorithm', self.algorithm, ALGORITHMS)
    _choose('embedder', self.embedder, EMBEDDER_TYPES)
    _choose('fusion', self.fusion, FUSION_TYPES)
    _choose('gaussian_logvar', self.gaussian_logvar, GAUSSIAN_LOGVARS)
    _positive(pose_embedding_dim=self.pose_embedding_dim,
              view_embedding_dim=self.view_embedding_dim, learning_rate=self.learning_rate)
    if self.fusion != FUSION_CAT and self.algorithm in (
        ALGORITHM_DISENTANGLE, ALGORITHM_INFOMAX, ALGORITHM_INFONCE):
      if self.pose_embedding_dim != self.view_embedding_dim:
        raise errors.InputError(f'Fusion {self.fusion} needs equal pose and view embedding widths, '
                                f'got pose_embedding_dim={self.pose_embedding_dim} and '
                                f'view_embedding_dim={self.view_embedding_dim}.')
    if not 0.0 <= self.dropout_rate < 1.0:
      raise errors.InputError(f'dropout_rate must be in [0, 1), got {self.dropout_rate}.')
    if not self.alignment_loss_weight >= 0.0:
      raise errors.InputError(f'alignment_loss_weight must be >= 0, got '
                              f'{self.alignment_loss_weight}.')
    if self.alignment_loss_weight and self.algorithm != ALGORITHM_DISENTANGLE:
      raise errors.InputError(f'alignment_loss_weight applies to {ALGORITHM_DISENTANGLE}, not '
                              f'{self.algorithm}.')
    if (self.mining.temporal_negatives
        and self.algorithm not in ALGORITHMS_WITH_TEMPORAL_NEGATIVES):
      raise errors.InputError(f'temporal_negatives applies to '
                              f'{", ".join(ALGORITHMS_WITH_TEMPORAL_NEGATIVES)}, not '
                              f'{self.algorithm}.')


def option_group_of(name: str) -> Optional[str]:
  """The option group holding field `name`, or None for a field of AlgorithmConfig itself."""
  for group, cls in OPTION_GROUPS.items():
    if name in {f.name for f in dataclasses.fields(cls)}:
      return group
  return None


def replace_algorithm(algorithm: 'AlgorithmConfig', /, **values) -> 'AlgorithmConfig':
  """`algorithm` with fields replaced, each named by itself whichever group holds it
  (`replace_algorithm(a, negative_gap=4, fusion='CAT')`); validated again."""
  groups, own = {}, {}
  for name, value in values.items():
    group = option_group_of(name)
    if group is None:
      own[name] = value
    else:
      groups.setdefault(group, {})[name] = value
  for group, changed in groups.items():
    own[group] = dataclasses.replace(getattr(algorithm, group), **changed)
  return dataclasses.replace(algorithm, **own)


def algorithm_config(**values) -> 'AlgorithmConfig':
  """An AlgorithmConfig from fields named by themselves, e.g.
  `algorithm_config(algorithm='MCSS', fraction_with_3d=0.1)`."""
  return replace_algorithm(AlgorithmConfig(), **values)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How representation training runs."""
  input_table: str = ''  # comma-separated file patterns of pair records
  output_dir: str = ''
  algorithm: AlgorithmConfig = AlgorithmConfig()
  batch_size: int = 256  # global batch, across all replicas
  num_steps: int = 5_000_000  # the original's default: set your own
  input_type: str = '2D_INPUT_AND_3D_PROJECTION'
  profile_2d: str = 'LEGACY_2DCOCO13'
  profile_3d: str = 'LEGACY_3DH36M17'
  shuffle_in_step: bool = True  # shuffle each batch inside the step, as the original
  # The original held 2,097,152 records (about 10 GB of serialised pairs); 65,536 fit here.
  shuffle_buffer_size: int = 65536
  checkpoint_interval: int = 1000
  summary_interval: int = 100
  max_checkpoints: int = 3
  seed: Optional[int] = None
  strategy: str = 'mirrored'
  jit_compile: bool = False  # XLA: single-device runs only
  peer_timeout_s: float = 300.0  # how long a worker waits for its peers
  # TensorFlow's op determinism and a deterministic input order: one seed, one result on one
  # machine (set in the command's main; see README for its cost).
  deterministic: bool = False
  # The clip-grouped sampler (docs/mining.md): batches of batch_size / instants_per_clip clips,
  # `instants_per_clip` instants of each at least `algorithm.negative_gap` frames apart (one
  # pair record each). 0: records are shuffled one by one (the original's input).
  instants_per_clip: int = dataclasses.field(default=0, metadata=_ADDED)
  # A run directory whose latest checkpoint initialises the networks (fine-tuning: optimizer
  # state and step start afresh).
  init_from: str = dataclasses.field(default='', metadata=_ADDED)
  # The virtual cameras of the projected inputs (docs/cameras.md): the camera depth is drawn
  # from [camera_depth_min, camera_depth_max] per pose; the guard keeps every joint at least
  # `min_joint_depth_fraction` of that depth in front of the camera (0: the original's
  # projection, unguarded).
  camera_depth_min: float = dataclasses.field(default=cameras.DEFAULT_CAMERA_DEPTH,
                                              metadata={'added': True,
                                                        'unkeyed': cameras.DEFAULT_CAMERA_DEPTH})
  camera_depth_max: float = dataclasses.field(default=cameras.DEFAULT_CAMERA_DEPTH,
                                              metadata={'added': True,
                                                        'unkeyed': cameras.DEFAULT_CAMERA_DEPTH})
  min_joint_depth_fraction: float = dataclasses.field(
      default=cameras.MIN_JOINT_DEPTH_FRACTION,
      metadata={'added': True, 'unkeyed': cameras.MIN_JOINT_DEPTH_FRACTION})

  def __post_init__(self):
    _choose('input_type', self.input_type, _INPUT_TYPES)
    _choose('strategy', self.strategy, STRATEGIES)
    _choose('2D keypoint profile', self.profile_2d, keypoints.PROFILE_NAMES_2D)
    if self.profile_3d:
      _choose('3D keypoint profile', self.profile_3d, keypoints.PROFILE_NAMES_3D)
    _positive(batch_size=self.batch_size, num_steps=self.num_steps,
              checkpoint_interval=self.checkpoint_interval,
              summary_interval=self.summary_interval, max_checkpoints=self.max_checkpoints)
    if not 0.0 < self.camera_depth_min <= self.camera_depth_max:
      raise errors.InputError(f'Need 0 < camera_depth_min <= camera_depth_max, got '
                              f'{self.camera_depth_min} and {self.camera_depth_max}.')
    if not 0.0 <= self.min_joint_depth_fraction < 1.0:
      raise errors.InputError(f'min_joint_depth_fraction must be in [0, 1), got '
                              f'{self.min_joint_depth_fraction}.')
    if self.input_type != cameras.INPUT_2D and not self.profile_3d:
      raise errors.InputError(f'input_type {self.input_type} needs a 3D profile.')
    if self.instants_per_clip == 1 or self.instants_per_clip < 0:
      raise errors.InputError(f'instants_per_clip must be 0 (records one by one) or >= 2, got '
                              f'{self.instants_per_clip}.')
    if self.instants_per_clip and self.batch_size % self.instants_per_clip:
      raise errors.InputError(f'batch_size {self.batch_size} is not a multiple of '
                              f'instants_per_clip {self.instants_per_clip}.')
    if self.algorithm.uses_clip_batches and not self.instants_per_clip:
      what = ('MCSS' if self.algorithm.algorithm == ALGORITHM_MCSS else 'temporal_negatives')
      raise errors.InputError(f'{what} needs clip-grouped batches: set instants_per_clip (e.g. '
                              f'{DEFAULT_INSTANTS_PER_CLIP}).')
    if self.algorithm.algorithm in ALGORITHMS_NEEDING_3D and not self.profile_3d:
      raise errors.InputError(f'{self.algorithm.algorithm} reads 3D poses and needs a 3D profile '
                              '(--keypoint_profile_name_3d).')


def paper(**overrides) -> TrainConfig:
  """The paper's CV-MIM training: batch 256, Adagrad 0.02 (the dataclass defaults)."""
  return dataclasses.replace(TrainConfig(), **overrides)


def smoke_config(**overrides) -> TrainConfig:
  """A few seconds of training: small batch, few steps, frequent checkpoints and summaries."""
  values = dict(batch_size=16, num_steps=4, checkpoint_interval=2, summary_interval=2,
                shuffle_buffer_size=64, seed=0)
  values.update(overrides)
  return dataclasses.replace(TrainConfig(), **values)


def synthetic_schedule(**overrides) -> TrainConfig:
  """The one schedule of encoders trained on the synthetic set: batch 128, a shuffle buffer of
  8,192 records, seed 0, op determinism, 2,000 steps. The paper tables' synthetic preset uses
  it as it is; the main job (`experiments.quickstart`) trains it 2,800 steps and the general
  encoder (`general`) 20,000."""
  values = dict(batch_size=128, num_steps=2000, checkpoint_interval=1000, summary_interval=200,
                shuffle_buffer_size=8192, seed=0, deterministic=True)
  values.update(overrides)
  return dataclasses.replace(TrainConfig(), **values)


def general(**overrides) -> TrainConfig:
  """The "general" encoder: the synthetic schedule trained 20,000 steps (10x the tables'),
  on pair records that hold the broad pose prior (the synthetic set's default): for embedding
  detections of motion the twelve class programs do not cover."""
  values = dict(num_steps=20000, checkpoint_interval=2000, summary_interval=500)
  values.update(overrides)
  return synthetic_schedule(**values)


def beta_vae(beta: float = 4.0, **overrides) -> AlgorithmConfig:
  """The beta-VAE baseline: the Gaussian auto-encoder with the KL weighted by beta."""
  return AlgorithmConfig(algorithm=ALGORITHM_AUTOENCODER, embedder='GAUSSIAN',
                         regularization_loss_weight=beta, **overrides)


def pr_vipe(**overrides) -> AlgorithmConfig:
  """Pr-VIPE with its trainer's defaults: a 16-d Gaussian embedding, 20 samples, dropout 0.3,
  KL weight 0.001, positive-pair weight 0.005, margin ln 2, negatives at MPJPE >= 0.1, Adagrad
  0.02 (the same optimizer as CV-MIM here)."""
  values = dict(algorithm=ALGORITHM_PR_VIPE, pose_embedding_dim=16, dropout_rate=0.3,
                regularization_loss_weight=0.001)
  values.update(overrides)
  return algorithm_config(**values)


def algorithm_defaults(name: str) -> AlgorithmConfig:
  """The defaults of an algorithm named on the command line: `pr_vipe()` for PR_VIPE, the
  dataclass defaults (the paper's CV-MIM settings) for the others."""
  if name == ALGORITHM_PR_VIPE:
    return pr_vipe()
  return AlgorithmConfig(algorithm=name)


# The command-line flags of `python -m poem_cvmim.train`: the original's names, each mapped to
# the config field it sets; flag defaults are read from the dataclasses (one source of truth).
FLAG_FIELDS = {
    'input_table': ('input_table', 'Comma-separated file patterns of pair records.'),
    'log_dir_path': ('output_dir', 'Directory for checkpoints, summaries and config.'),
    'keypoint_profile_name_2d': ('profile_2d', 'Profile of 2D keypoints.'),
    'keypoint_profile_name_3d': ('profile_3d', 'Profile of 3D keypoints (Human3.6M and '
                                 'synthetic: LEGACY_3DH36M17; NTU: 3DSTD13).'),
    'model_input_keypoint_type': ('input_type', ', '.join(_INPUT_TYPES) + '.'),
    'algorithm_type': ('algorithm.algorithm', ', '.join(ALGORITHMS) + '.'),
    'fusion_op_type': ('algorithm.fusion', ', '.join(FUSION_TYPES) + '.'),
    'pose_embedding_dim': ('algorithm.pose_embedding_dim', 'Width of the pose embedding '
                           '(PR_VIPE: 16).'),
    'view_embedding_dim': ('algorithm.view_embedding_dim', 'Width of the view embedding.'),
    'embedder_type': ('algorithm.embedder', 'POINT or GAUSSIAN (VAE baselines).'),
    'gaussian_logvar': ('algorithm.gaussian_logvar', 'GAUSSIAN embedder\'s log-variance: SOFT '
                        '(10 tanh(x / 10)) or TANH (10 tanh(x), runs made before SOFT).'),
    'view_loss_weight': ('algorithm.view_loss_weight', 'Weight of the cross-view MI loss.'),
    'regularization_loss_weight': ('algorithm.regularization_loss_weight',
                                   'Weight of the KL loss (beta; PR_VIPE: 0.001).'),
    'disentangle_loss_weight': ('algorithm.disentangle_loss_weight',
                                'Weight of CLUB (0: "w/o L_inter").'),
    'alignment_loss_weight': ('algorithm.alignment_loss_weight', 'DISENTANGLE, not in the '
                              "paper: weight of the squared L2 distance between the two views' "
                              'z_p (0: the original loss).'),
    'use_prior': ('algorithm.use_prior', 'Adversarial uniform prior (False: "w/o L_prior").'),
    'dropout_rate': ('algorithm.dropout_rate', 'Dropout of the encoder and critic '
                     '(PR_VIPE: 0.3).'),
    'num_embedding_samples': ('algorithm.pr_vipe.num_embedding_samples',
                              'PR_VIPE: samples drawn from each embedding in training.'),
    'triplet_loss_margin': ('algorithm.pr_vipe.triplet_loss_margin', 'PR_VIPE: triplet margin (ln 2).'),
    'min_negative_keypoint_mpjpe': ('algorithm.pr_vipe.min_negative_keypoint_mpjpe',
                                    'PR_VIPE: aligned 3D MPJPE from which a pair is negative.'),
    'positive_pairwise_loss_weight': ('algorithm.pr_vipe.positive_pairwise_loss_weight',
                                      'PR_VIPE: weight of the positive-pair distance.'),
    'sigmoid_raw_a_initial': ('algorithm.pr_vipe.sigmoid_raw_a_initial',
                              'PR_VIPE: initial raw a of the matching sigmoid (a = ELU + 1).'),
    'sigmoid_b_initial': ('algorithm.pr_vipe.sigmoid_b_initial',
                          'PR_VIPE: initial b of the matching sigmoid.'),
    'mine_on_means': ('algorithm.pr_vipe.mine_on_means', 'PR_VIPE: mine semi-hard negatives '
                      'on the distances between the means (default: between the samples, as '
                      "the original's code; docs/losses.md)."),
    'learning_rate': ('algorithm.learning_rate', 'Adagrad learning rate of every player.'),
    'shuffle_buffer_size': ('shuffle_buffer_size', 'Records held for shuffling.'),
    'batch_size': ('batch_size', 'Global batch size (over all replicas).'),
    'num_iterations': ('num_steps', 'Training steps.'),
    'checkpoint_interval': ('checkpoint_interval', 'Save a checkpoint every N steps.'),
    'summary_interval': ('summary_interval', 'Write TensorBoard scalars every N steps.'),
    'seed': ('seed', 'Random seed (None: nondeterministic).'),
    'strategy': ('strategy', ', '.join(STRATEGIES) + '.'),
    'jit_compile': ('jit_compile', 'XLA-compile the step (single device only).'),
    'peer_timeout_s': ('peer_timeout_s', 'Seconds to wait for the other workers.'),
    'deterministic': ('deterministic', 'Op determinism and a deterministic input order.'),
    'temporal_negatives': ('algorithm.mining.temporal_negatives', 'DISENTANGLE: frames of the '
                           "anchor's own clip far in time as hard negatives (MCSS); PR_VIPE: the "
                           'negatives of rows without 3D (sets '
                           f'--instants_per_clip={DEFAULT_INSTANTS_PER_CLIP} unless given).'),
    'hard_negative_weight': ('algorithm.mining.hard_negative_weight',
                             'Weight of a temporal negative against an ordinary one.'),
    'hard_negative_scope': ('algorithm.mining.hard_negative_scope', "clip: the anchor's clip's far "
                            'frames its camera saw (MCSS); camera: also other clips\' frames '
                            'of that camera.'),
    'negative_gap': ('algorithm.mining.negative_gap', 'Frames between two instants of one clip in a '
                     'batch (and from which they are temporal negatives).'),
    'ignore_gap': ('algorithm.mining.ignore_gap', 'Frames of one clip closer than this are no '
                   'negatives.'),
    'periodic_guard_mpjpe': ('algorithm.mining.periodic_guard_mpjpe', 'Pairs whose 3D poses are '
                             'within this NP-MPJPE are no negatives (with temporal negatives).'),
    'periodic_guard_2d': ('algorithm.mining.periodic_guard_2d', 'Without 3D: pairs one camera saw '
                          'within this normalised 2D distance are no negatives.'),
    'fraction_with_3d': ('algorithm.mcss.fraction_with_3d', 'MCSS: fraction of the clips whose 3D '
                         'trains the 3D head; PR_VIPE: whose 3D gives negatives (a fixed choice '
                         'by clip).'),
    'mcss_margin': ('algorithm.mcss.mcss_margin', 'MCSS: triplet margin on the unit-length '
                    'embedding.'),
    'multiview_loss_weight': ('algorithm.mcss.multiview_loss_weight', 'MCSS: weight of the '
                              'multi-view triplet loss (0: the 3D head alone).'),
    'lifting_loss_weight': ('algorithm.mcss.lifting_loss_weight', 'MCSS: weight of the 3D head\'s '
                            'MPJPE loss.'),
    'instants_per_clip': ('instants_per_clip', 'Clip-grouped batches: instants per clip '
                          '(0: records shuffled one by one).'),
    'init_from': ('init_from', 'Run directory whose latest checkpoint initialises the '
                  'networks (adapting a trained encoder).'),
    'camera_depth_min': ('camera_depth_min', 'Virtual cameras of projected inputs: smallest '
                         'camera depth (normalised 3D units).'),
    'camera_depth_max': ('camera_depth_max', 'Virtual cameras: largest camera depth.'),
    'min_joint_depth_fraction': ('min_joint_depth_fraction', 'Camera guard: every joint at '
                                 'least this fraction of the camera depth in front of the '
                                 "camera (0: the original's unguarded projection)."),
}


def field_default(path: str):
  """The dataclass default of a field path such as 'algorithm.fusion'."""
  config = TrainConfig()
  for part in path.split('.'):
    config = getattr(config, part)
  return config


def with_fields(config: TrainConfig, values: dict,
                algorithm: Optional[AlgorithmConfig] = None) -> TrainConfig:
  """`config` with {field path: value} replaced (validated again), its algorithm first
  replaced by `algorithm` where given (all in one step: a field may need another's value).
  Paths are those of FLAG_FIELDS: 'batch_size', 'algorithm.fusion',
  'algorithm.mining.negative_gap'."""
  top = {k: v for k, v in values.items() if '.' not in k}
  nested = {k.rsplit('.', 1)[1]: v for k, v in values.items() if k.startswith('algorithm.')}
  algorithm = config.algorithm if algorithm is None else algorithm
  if nested or algorithm is not config.algorithm:
    top['algorithm'] = replace_algorithm(algorithm, **nested)
  return dataclasses.replace(config, **top)
