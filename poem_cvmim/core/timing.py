"""How the benchmarks report repeated measurements: the median with its range."""

import statistics
from typing import Sequence


def spread(values: Sequence[float], fmt: str = '{:.2f}') -> str:
  """'median [min–max]' of a list of numbers."""
  return (fmt.format(statistics.median(values)) + ' [' + fmt.format(min(values)) + '–'
          + fmt.format(max(values)) + ']')
