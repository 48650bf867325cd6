"""The algorithms by name."""

from poem_cvmim.core import errors
from poem_cvmim.representation import configs
from poem_cvmim.representation.algorithms import align
from poem_cvmim.representation.algorithms import autoencoder
from poem_cvmim.representation.algorithms import base
from poem_cvmim.representation.algorithms import disentangle
from poem_cvmim.representation.algorithms import infomax
from poem_cvmim.representation.algorithms import mcss
from poem_cvmim.representation.algorithms import pr_vipe


def create_algorithm(config: configs.AlgorithmConfig, inputs=None, synchronized_batch_norm=False):
  """The algorithm named by `config.algorithm`; an unknown name lists the valid ones."""
  name = config.algorithm
  if name == configs.ALGORITHM_DISENTANGLE:
    return disentangle.Disentangle(config, inputs, synchronized_batch_norm)
  if name == configs.ALGORITHM_ALIGN:
    return align.Align(config, inputs, synchronized_batch_norm)
  if name == configs.ALGORITHM_AUTOENCODER:
    return autoencoder.AutoEncoder(config, inputs, synchronized_batch_norm)
  if name == configs.ALGORITHM_INFOMAX:
    return infomax.InfoMax(config, inputs, synchronized_batch_norm)
  if name == configs.ALGORITHM_INFONCE:
    return infomax.InfoMax(config, inputs, synchronized_batch_norm, mi_bound=base.nce)
  if name == configs.ALGORITHM_PR_VIPE:
    return pr_vipe.PrVipe(config, inputs, synchronized_batch_norm)
  if name == configs.ALGORITHM_MCSS:
    return mcss.Mcss(config, inputs, synchronized_batch_norm)
  raise errors.InputError(f'Unknown algorithm {name!r}; valid: {", ".join(configs.ALGORITHMS)}.')
