"""A run plan: the representation trainings, feature tables and classifier runs behind a paper
table, each keyed by the configuration that defines it.

A run's directory is named by a hash of its key, so a run shared by several rows or tables (the
same encoder, the same features) is one directory and is done once. A run is done when its
result file exists: `done.json` for encoders and feature tables, `result.json` for classifier
runs; `execute` skips those, and a run that was killed resumes (an encoder from its latest
checkpoint, a classifier from its own). Nothing here knows about tables.

Several processes may execute plans on one output directory at once (two table commands, or N
workers of one table on a cluster: `execute(shard=(k, n))`). Each run is claimed before it
starts (an OS lock beside its directory, released however the process ends), so a run is done
once; a process skips a run another holds, or whose inputs (`Run.needs`) are not done yet,
takes other work, and waits for the rest.
"""

import dataclasses
import hashlib
import json
import os
import time
from typing import Callable, Optional, Tuple

import numpy as np

from poem_cvmim.action import classifier_configs
from poem_cvmim.action import protocols
from poem_cvmim.core import errors
from poem_cvmim.core import feature_tables
from poem_cvmim.core import run_dirs
from poem_cvmim.core import shards
from poem_cvmim.evaluation import embedders
from poem_cvmim.representation import config_files
from poem_cvmim.representation import configs

DONE_NAME = 'done.json'
# Every run a plan executes appends its cost here ({class, units, seconds, date}), one JSON
# line each: what `Plan.estimate` learns this machine's costs from.
TIMINGS_NAME = 'timings.jsonl'
# Seconds per unit (an encoder or classifier step, a feature table) where this output
# directory has no measurement of a run's class yet: measured on the project's 2-core CPU
# machine (docs/results.md, 2026-12-01 to 2026-12-06). Encoders are at batch 128 and scale
# with the batch; the skeleton classifiers at their recipes' batch 64, ST-GCN on the synthetic
# NTU-like set's 160-frame clips; the other classifiers on the penn-like set's 80 frames
# (Res-TCN, on raw keypoints, 38-55 s a 300-step run with two workers sharing the cores).
DEFAULT_SECONDS_PER_UNIT = {
    'encoder DISENTANGLE': 0.09, 'encoder PR_VIPE': 0.24, 'encoder': 0.09,
    'features': 10.0,
    'classifier STGCN': 6.4, 'classifier HCN': 0.17, 'classifier RESTCN': 0.12,
    'classifier': 0.02,
}


def reference_seconds(kind: str, method: str = '', scale: float = 1.0) -> float:
  """DEFAULT_SECONDS_PER_UNIT of a kind and method (the kind's own where the method has none),
  times `scale`."""
  return scale * DEFAULT_SECONDS_PER_UNIT.get(f'{kind} {method}', DEFAULT_SECONDS_PER_UNIT[kind])


@dataclasses.dataclass(frozen=True)
class Cost:
  """What a run costs: its class (runs of one class cost the same per unit), how many units
  (steps; 1 for a feature table) and the reference seconds a unit takes on the 2-core machine."""
  name: str
  units: float
  reference: float
RAW = embedders.RAW


def data_path(path: str) -> str:
  """A data path as run keys spell it: absolute, symbolic links resolved (a file pattern's last
  part kept), so that a run is the same run however the command's paths are written."""
  return os.path.realpath(path)


def key_hash(key: dict) -> str:
  return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclasses.dataclass
class Run:
  """One unit of work: `execute` calls `work(run)` unless `done(run)`."""
  kind: str  # 'encoder', 'features' or 'classifier'
  key: dict
  directory: str
  description: str
  work: Callable
  result_path: str
  needs: tuple = ()  # the runs whose results this one reads (an encoder, a feature table)
  cost: Optional[Cost] = None

  def done(self) -> bool:
    return os.path.exists(self.result_path)

  def ready(self) -> bool:
    return all(run.done() for run in self.needs)

  def claim(self) -> Optional[run_dirs.DirectoryLock]:
    """The lock that makes this process the one doing the run, or None when another holds it."""
    # `.<name>.claim.lock` beside the directory: not the lock a run's own work takes (inside
    # the directory, or `.<name>.lock` beside it for a directory replaced as a whole).
    lock = run_dirs.DirectoryLock(self.directory.rstrip(os.sep) + '.claim', beside=True)
    return lock if lock.try_acquire() else None


def parse_shard(text: str) -> Tuple[int, int]:
  """'K/N' (0 <= K < N) -> (K, N); a one-line error otherwise."""
  try:
    index, count = (int(part) for part in text.split('/'))
  except ValueError:
    index, count = -1, 0
  if not 0 <= index < count:
    raise errors.InputError(f'--shard={text}: give K/N with 0 <= K < N (e.g. 0/4 for the first '
                            'of four workers).')
  return index, count


class Plan:
  """The runs of one or more tables, in dependency order, each once."""

  def __init__(self, root: str):
    self.root = root
    self.runs = {}  # directory -> Run, insertion order = execution order
    self._classifier_pool = None
    # The feature table the last classifier run read: (directory, train, test, classes). One
    # table at a time, so memory does not grow with the plan; runs are added table by table.
    self._loaded_features = None

  def classifier_pool(self):
    """The traced classifier models the plan's classifier runs share (made on first use)."""
    if self._classifier_pool is None:
      from poem_cvmim.action import classify  # pylint: disable=g-import-not-at-top
      self._classifier_pool = classify.ClassifierPool()
    return self._classifier_pool

  def _add(self, run: Run) -> Run:
    return self.runs.setdefault(run.directory, run)

  def encoder(self, name: str, config: configs.TrainConfig) -> Run:
    """A representation training (`config.output_dir` is set here). Keyed by its pair records'
    real path (`data_path`); an encoder a plan made before that, keyed by the path as it was
    written then, is still found when that was the path as written now or relative to the
    working directory."""
    input_table = data_path(config.input_table)
    key, directory = self._encoder_key(name, config, input_table)
    # Spellings the old keys may hold: as written now, and relative to the working directory.
    for spelt in dict.fromkeys((config.input_table, os.path.relpath(input_table))):
      legacy_key, legacy_directory = self._encoder_key(name, config, spelt)
      if (legacy_directory != directory
          and not os.path.exists(os.path.join(directory, DONE_NAME))
          and os.path.exists(os.path.join(legacy_directory, DONE_NAME))):
        key, directory, input_table = legacy_key, legacy_directory, spelt
        break
    # Trained with the keyed path: a run resumed by a command that spells it otherwise is the
    # same run to the trainer's identity check.
    config = dataclasses.replace(config, input_table=input_table, output_dir=directory)

    def work(run):
      from poem_cvmim.representation import trainer  # pylint: disable=g-import-not-at-top
      trainer.Trainer(config, log=lambda _: None, verbose=False).train()
      run_dirs.write_json_atomic(run.result_path, {'key': key, 'steps': config.num_steps})
    return self._add(Run('encoder', key, directory,
                         f'train {name} ({config.num_steps} steps)', work,
                         os.path.join(directory, DONE_NAME),
                         cost=Cost(f'encoder {config.algorithm.algorithm} batch '
                                   f'{config.batch_size}', float(config.num_steps),
                                   reference_seconds('encoder', config.algorithm.algorithm,
                                                     config.batch_size / 128))))

  def _encoder_key(self, name, config, input_table):
    key = {'kind': 'encoder', 'config': config_files.flat_dict(dataclasses.replace(
        config, input_table=input_table, output_dir=''))}
    return key, os.path.join(self.root, 'encoders', f'{_slug(name)}-{key_hash(key)}')

  def features(self, encoder: Optional[Run], sequence_dir: str, downsample_rate: int) -> Run:
    """Per-frame features of a sequence directory: z_p of `encoder`, or raw keypoints."""
    key = {'kind': 'features', 'encoder': encoder.key if encoder else RAW,
           'sequences': data_path(sequence_dir), 'downsample_rate': downsample_rate}
    source = encoder.directory if encoder else RAW
    name = os.path.basename(encoder.directory) if encoder else RAW
    directory = os.path.join(self.root, 'features',
                             f'{name}-{os.path.basename(sequence_dir)}-{key_hash(key)}')

    def work(run):
      from poem_cvmim.evaluation import features  # pylint: disable=g-import-not-at-top
      features.write_feature_table(sequence_dir, directory, embedders.load_embedder(source),
                                   downsample_rate=downsample_rate, overwrite=True,
                                   log=lambda _: None)
      run_dirs.write_json_atomic(run.result_path, {'key': key})
    return self._add(Run('features', key, directory,
                         f'features {name} of {os.path.basename(sequence_dir)}', work,
                         os.path.join(directory, DONE_NAME), (encoder,) if encoder else (),
                         Cost(f'features {"encoder" if encoder else RAW} '
                              f'{os.path.basename(sequence_dir)}', 1.0,
                              reference_seconds('features'))))

  def feature_sets(self, directory, train_views=None, test_views=None):
    """(train, test, number of classes) of a feature table, restricted to views."""
    if self._loaded_features is None or self._loaded_features[0] != directory:
      self._loaded_features = None  # let the previous table go before loading the next
      manifest = shards.read_manifest(directory)
      self._loaded_features = (directory, feature_tables.load_feature_set(directory, 'train'),
                               feature_tables.load_feature_set(directory, 'test'),
                               len(manifest['classes']))
    _, train, test, num_classes = self._loaded_features
    if train_views:
      train = train.select(np.isin(train.views, list(train_views)))
    if test_views:
      test = test.select(np.isin(test.views, list(test_views)))
    return train, test, num_classes

  def classifier(self, row: str, feature_run: Run, config: classifier_configs.ClassifierConfig,
                 spec: protocols.RunSpec, train_views=None, test_views=None) -> Run:
    """The classifier run `spec` (from `protocols.plan_runs`) on `train_views` of the training
    split (all by default), scored on `test_views` of the test split (all)."""
    protocol, seed, train_view, fraction = spec.protocol, spec.seed, spec.train_view, spec.fraction
    key = {'kind': 'classifier', 'features': feature_run.key,
           'config': dataclasses.asdict(config), 'protocol': protocol, 'seed': seed,
           'train_view': train_view, 'fraction': fraction,
           'train_views': list(train_views or []), 'test_views': list(test_views or [])}
    # Runs that differ only in protocol, view, fraction or seed share a base directory.
    shared = {k: key[k] for k in ('features', 'config', 'train_views', 'test_views')}
    base = os.path.join(self.root, 'classifiers', os.path.basename(feature_run.directory),
                        f'{config.classifier}-{key_hash(shared)}')
    # The directory protocols.run_one writes to (not created until the run executes).
    directory = os.path.join(base, row, protocol, train_view, f'fraction{fraction:g}',
                             f'seed{seed}')

    def work(run):
      train, test, num_classes = self.feature_sets(feature_run.directory, train_views,
                                                   test_views)
      protocols.run_one(row, spec, spec.training_set(train), test, num_classes, config, base,
                        log=lambda _: None,
                        features=run_dirs.dataset_identity(feature_run.directory),
                        pool=self.classifier_pool())
    where = train_view if protocol == protocols.SINGLE_SHOT else f'{fraction:g}'
    return self._add(Run('classifier', key, directory,
                         f'{row}: {config.classifier} {protocol} {where} seed {seed}', work,
                         os.path.join(directory, protocols.RESULT_NAME), (feature_run,),
                         Cost(f'classifier {config.classifier} batch {config.batch_size} '
                              f'{os.path.basename(feature_run.key["sequences"])}',
                              float(config.num_steps),
                              reference_seconds('classifier', config.classifier))))

  def _measured(self) -> dict:
    """{cost class: [seconds per unit, ...]} of the runs executed under this root."""
    measured = {}
    path = os.path.join(self.root, TIMINGS_NAME)
    if os.path.exists(path):
      with open(path) as f:
        for line in f:
          try:
            entry = json.loads(line)
            measured.setdefault(entry['class'], []).append(entry['seconds'] / entry['units'])
          except (ValueError, KeyError, ZeroDivisionError):
            continue  # a line cut by a killed writer
    return measured

  def estimate(self) -> dict:
    """What the runs still to do will take on this machine: {'seconds', 'measured': runs
    estimated from this directory's own timings, 'defaults': runs from
    DEFAULT_SECONDS_PER_UNIT, 'by_kind': {kind: seconds}}. One process, one after another."""
    measured = self._measured()
    total, from_measured, from_defaults, by_kind = 0.0, 0, 0, {}
    for run in self.runs.values():
      if run.done():
        continue
      if run.cost.name in measured:
        per_unit = float(np.median(measured[run.cost.name]))
        from_measured += 1
      else:
        per_unit = run.cost.reference
        from_defaults += 1
      total += per_unit * run.cost.units
      by_kind[run.kind] = by_kind.get(run.kind, 0.0) + per_unit * run.cost.units
    return {'seconds': total, 'measured': from_measured, 'defaults': from_defaults,
            'by_kind': by_kind}

  def _record(self, run: 'Run', seconds: float) -> None:
    line = json.dumps({'class': run.cost.name, 'units': run.cost.units,
                       'seconds': round(seconds, 3),
                       'date': time.strftime('%Y-%m-%d')})
    os.makedirs(self.root, exist_ok=True)
    with open(os.path.join(self.root, TIMINGS_NAME), 'a') as f:
      f.write(line + '\n')  # one short append: whole lines even with several workers

  def describe(self) -> str:
    lines = []
    for number, run in enumerate(self.runs.values(), start=1):
      state = 'done' if run.done() else 'to do'
      lines.append(f'{number:4d}. [{state:5s}] {run.description}  ({run.directory})')
    return '\n'.join(lines)

  def execute(self, log=print, shard: Tuple[int, int] = (0, 1), poll_s: float = 10.0) -> int:
    """Runs every run not done yet whose inputs are done, each claimed first; returns how many
    this process ran. Runs another process holds (or whose inputs it is making) are left to it
    and waited for: this returns when the whole plan is done.

    `shard` (k, n): this process starts with the runs at positions k, k + n, ... of the plan
    and then takes any other run nobody holds, so n workers share the plan (a SLURM array
    runs `--shard=$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`) and no run waits on one
    worker's share."""
    index, count = shard
    runs = list(self.runs.values())
    numbers = {run.directory: number for number, run in enumerate(runs, start=1)}
    order = runs[index::count] + [r for i, r in enumerate(runs) if i % count != index]
    total, ran, waited = len(runs), 0, False
    while True:
      pending = [run for run in order if not run.done()]
      if not pending:
        return ran
      progressed = False
      for run in pending:
        if run.done() or not run.ready():
          continue
        lock = run.claim()
        if lock is None:
          continue
        try:
          if run.done():  # finished by another process between our look and our claim
            continue
          number = numbers[run.directory]
          start = time.time()
          log(f'[run {number} of {total}] {run.description}')
          os.makedirs(run.directory, exist_ok=True)
          run.work(run)
          ran += 1
          progressed = True
          self._record(run, time.time() - start)
          log(f'[run {number} of {total}] done in {time.time() - start:.0f} s')
        finally:
          lock.release()
      if not progressed:
        if not waited:
          log(f'waiting for {len(pending)} run(s) that other processes hold or prepare the '
              'inputs of')
          waited = True
        time.sleep(poll_s)


def _slug(name: str) -> str:
  return ''.join(c if c.isalnum() else '_' for c in name).strip('_').lower()
