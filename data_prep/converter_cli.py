"""Flags and error handling that the converter entry points share (no flags at import).

An entry point calls `define_common_flags(FLAGS)` in its `define_flags()`, builds its config
with `**common_values(FLAGS)`, and runs its conversion through `run(...)`, which turns an input
problem into a one-line `error: ...` exit instead of a traceback.
"""

import dataclasses
from typing import Callable

from absl import flags

from data_prep import conversion
from poem_cvmim.core import shards


def define_common_flags(flag_values: flags.FlagValues) -> None:
  flags.DEFINE_integer('num_workers', conversion.default_workers(), 'Worker processes.',
                       flag_values=flag_values)
  flags.DEFINE_integer('records_per_shard', shards.DEFAULT_RECORDS_PER_SHARD, 'Shard size.',
                       flag_values=flag_values)
  flags.DEFINE_boolean('strict', False, 'Stop at the first malformed input instead of '
                       'skipping it.', flag_values=flag_values)
  flags.DEFINE_boolean('overwrite', False, 'Replace the shards of an earlier run.',
                       flag_values=flag_values)


def common_values(flag_values: flags.FlagValues) -> dict:
  """The shared config fields, read from parsed flags."""
  return {field.name: flag_values[field.name].value
          for field in dataclasses.fields(conversion.ConversionOptions)}


def run(convert: Callable[[], object]) -> None:
  """Runs `convert()` (returning a manifest or {part: manifest}) and prints a summary."""
  result = convert()  # expected failures become one line in cli.run; a bug keeps its traceback
  manifests = result.values() if 'dataset' not in result else [result]
  for manifest in manifests:
    print(conversion.summarize(manifest))
