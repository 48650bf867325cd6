"""What a TDMI refiner run is, as data (no TensorFlow here: commands read these to define their
flags, and --help does not load TensorFlow): the network's shape (`TdmiConfig`) and a run's
network, detector model and schedule (`RefinerConfig`). docs/tdmi.md explains each field.
"""

import dataclasses
import json

from poem_cvmim.core import errors
from poem_cvmim.temporal import noise as noise_lib


@dataclasses.dataclass(frozen=True)
class TdmiConfig:
  """The network's shape and its disentanglement term."""
  radius: int = 4  # the window is 2r + 1 frames
  width: int = 128  # channels of every feature
  num_stages: int = 3  # S: stages of per-frame features and of temporal differences
  differences: bool = True  # False: the capacity control (features instead of differences)
  kernel_size: int = 3  # the temporal convolution's kernel
  # Weight of the CLUB bound of I(M_u; M_n) (0: no MI term). The bound (about 0.1 nats a
  # channel) dwarfs the error (about 0.02 units): at 0.05 the refiner lowers it by erasing the
  # motion feature and returns its input (docs/tdmi.md).
  mi_weight: float = 0.001

  def __post_init__(self):
    if self.radius < 1:
      raise errors.InputError(f'radius must be >= 1 (a window of 3 frames), got {self.radius}.')
    if self.width < 1 or self.num_stages < 1 or self.kernel_size < 1:
      raise errors.InputError('width, num_stages and kernel_size must be >= 1, got '
                              f'{self.width}, {self.num_stages}, {self.kernel_size}.')
    if self.mi_weight < 0.0:
      raise errors.InputError(f'mi_weight must be >= 0, got {self.mi_weight}.')

  @property
  def window(self) -> int:
    return 2 * self.radius + 1


@dataclasses.dataclass(frozen=True)
class RefinerConfig:
  """Network, detector model and schedule of a refiner run."""
  model: TdmiConfig = TdmiConfig()
  noise: noise_lib.DetectorNoise = noise_lib.DetectorNoise()
  batch_size: int = 256
  num_steps: int = 4000
  learning_rate: float = 1e-3  # Adam, cosine-decayed to 5 % over num_steps
  estimator_learning_rate: float = 1e-3  # Adam, constant (the CLUB estimator's player)
  min_score: float = 0.0  # a joint at or below this confidence is missing
  seed: int = 0
  checkpoint_interval: int = 1000
  steps_per_loop: int = 100

  def __post_init__(self):
    if self.batch_size < 2 or self.num_steps < 1:
      raise errors.InputError(f'batch_size must be >= 2 and num_steps >= 1, got '
                              f'{self.batch_size}, {self.num_steps}.')
    if not self.learning_rate > 0.0 or not self.estimator_learning_rate > 0.0:
      raise errors.InputError('learning rates must be > 0.')

  def to_dict(self) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(self)))

  @classmethod
  def from_dict(cls, values: dict) -> 'RefinerConfig':
    values = dict(values)
    model = TdmiConfig(**values.pop('model', {}))
    noise = dict(values.pop('noise', {}))
    if 'score_range' in noise:
      noise['score_range'] = tuple(noise['score_range'])
    return cls(model=model, noise=noise_lib.DetectorNoise(**noise), **values)
