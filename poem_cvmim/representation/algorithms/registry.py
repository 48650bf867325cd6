"""The algorithms by name: each class declares the `--algorithm_type` it answers to
(`base.Algorithm.NAME`); this module imports the modules that define them and finds them there.
"""

from poem_cvmim.core import errors
from poem_cvmim.representation import configs
from poem_cvmim.representation.algorithms import align
from poem_cvmim.representation.algorithms import autoencoder
from poem_cvmim.representation.algorithms import base
from poem_cvmim.representation.algorithms import disentangle
from poem_cvmim.representation.algorithms import infomax
from poem_cvmim.representation.algorithms import mcss
from poem_cvmim.representation.algorithms import pr_vipe

# The modules whose classes implement the algorithms (found as base.Algorithm's subclasses).
MODULES = (align, autoencoder, disentangle, infomax, mcss, pr_vipe)


def algorithm_classes() -> dict:
  """{name: class} of every algorithm class that declares a NAME."""
  found, pending = {}, list(base.Algorithm.__subclasses__())
  while pending:
    cls = pending.pop()
    pending.extend(cls.__subclasses__())
    if cls.NAME is not None:
      if cls.NAME in found and found[cls.NAME] is not cls:
        raise TypeError(f'{cls.__name__} and {found[cls.NAME].__name__} both claim {cls.NAME}.')
      found[cls.NAME] = cls
  return found


def create_algorithm(config: configs.AlgorithmConfig, inputs=None, synchronized_batch_norm=False):
  """The algorithm named by `config.algorithm`; an unknown name lists the valid ones."""
  cls = algorithm_classes().get(config.algorithm)
  if cls is None:
    raise errors.InputError(f'Unknown algorithm {config.algorithm!r}; valid: '
                            f'{", ".join(configs.ALGORITHMS)}.')
  return cls(config, inputs, synchronized_batch_norm)
