"""A run's config.json: writing it, reading it back (also as earlier versions wrote it), the run
plan's key of a config, and what a restarted run may change.

A field added after config files were first written carries metadata in `configs` ('added',
'unkeyed', 'only_for', 'only_for_embedders', 'absent'); this module applies it, so that a file
written before the field existed reads as the run it was and keeps its run-plan key.
"""

import dataclasses

from poem_cvmim.core import errors
from poem_cvmim.representation import configs

# Fields a restarted run may change: how long and how often, and where it runs. Any other
# difference changes the model, the algorithm or the data and is refused.
SCHEDULE_FIELDS = ('num_steps', 'checkpoint_interval', 'summary_interval', 'max_checkpoints',
                   'strategy', 'jit_compile', 'peer_timeout_s', 'output_dir')


def to_dict(config: configs.TrainConfig) -> dict:
  """config.json: the fields, option groups as nested objects."""
  return dataclasses.asdict(config)


def flat_dict(config: configs.TrainConfig) -> dict:
  """`to_dict` with the option groups' fields among the algorithm's own, as config files held
  them before the groups existed: the run plan keys its encoders by it, so the directories of
  encoders trained before stay theirs."""
  data = to_dict(config)
  algorithm = data['algorithm']
  for group in configs.OPTION_GROUPS:
    algorithm.update(algorithm.pop(group))
  fields = [(data, f) for f in dataclasses.fields(configs.TrainConfig)] + [
      (algorithm, f) for cls in (configs.AlgorithmConfig, *configs.OPTION_GROUPS.values())
      for f in dataclasses.fields(cls)]
  for values, field in fields:
    meta = field.metadata
    if 'unkeyed' in meta and (values[field.name] == meta['unkeyed'] or not configs.concerns(
        meta, algorithm['algorithm'], algorithm['embedder'])):
      del values[field.name]
  return data


def _read(cls, values: dict, where: str, source: str):
  """`cls(**values)` with nested configs read the same way, refusing unknown keys and missing
  ones; a field marked `added` may be absent (the file predates it) and takes its default. A
  file written before AlgorithmConfig's option groups holds their fields flat among the
  algorithm's own: they are put in their groups by name."""
  fields = {f.name: f for f in dataclasses.fields(cls)}
  values = dict(values)
  grouped = cls is configs.AlgorithmConfig
  flat = {k: values.pop(k) for k in list(values)
          if k not in fields and grouped and configs.option_group_of(k) is not None}
  unknown = sorted(set(values) - set(fields))
  missing = sorted(n for n, f in fields.items() if n not in values and not f.metadata.get('added'))
  if unknown or missing:
    raise errors.InputError(f'{source}: {where} has unknown keys {unknown} and lacks keys '
                            f'{missing} (written by another version?).')
  # Option-group fields the file holds (in their group or flat).
  written = set(flat) | {name for group in configs.OPTION_GROUPS
                         for name in values.get(group, {})}
  for name, value in values.items():
    if dataclasses.is_dataclass(fields[name].default):
      values[name] = _read(type(fields[name].default), value, f'{where}\'s {name}', source)
  config = cls(**values)
  if grouped:
    # A file without a field marked 'absent' was written when the behaviour was that value.
    written |= set(values)
    flat.update({f.name: f.metadata['absent'] for cls_ in (cls, *configs.OPTION_GROUPS.values())
                 for f in dataclasses.fields(cls_)
                 if 'absent' in f.metadata and f.name not in written
                 and configs.concerns(f.metadata, config.algorithm, config.embedder)})
  return configs.replace_algorithm(config, **flat) if flat else config


def from_dict(data: dict, source: str = 'the config') -> configs.TrainConfig:
  """A TrainConfig from `to_dict` output (or an older config.json); unknown or missing keys
  are an error naming them (see `_read` for the keys an older file may lack)."""
  return _read(configs.TrainConfig, data, 'the run config', source)


def differing_fields(old: configs.TrainConfig, new: configs.TrainConfig,
                     ignore=SCHEDULE_FIELDS) -> list:
  """'field: old -> new' for every field that differs, nested fields as 'algorithm.x' and
  'algorithm.mining.x'."""
  def flat(data, prefix=''):
    out = {}
    for key, value in data.items():
      if isinstance(value, dict):
        out.update(flat(value, f'{prefix}{key}.'))
      else:
        out[prefix + key] = value
    return out
  a, b = flat(to_dict(old)), flat(to_dict(new))
  return [f'{k}: {a[k]!r} -> {b[k]!r}' for k in sorted(a) if k not in ignore and a[k] != b[k]]
