"""Evaluation protocols in code (docs/protocols.md).

- single-shot cross-view: for each training view v, train on view v of the training split only,
  test on every view of the test split;
- fully supervised: train on every training view, test on every test view;
- limited supervision: fully supervised with a fraction of training clips per class.
Each run writes a JSON file; `poem_cvmim.evaluation.tables` rebuilds tables from them.

`plan_runs` is the one place that expands a protocol into its runs (`RunSpec`: protocol,
training view, fraction, seed) and `RunSpec.training_set` the one place that picks a run's
training clips: `run_protocol` (train_action), the paper tables' run plan and the main job all
go through them.

The protocols' names and checks load no TensorFlow (commands read them to define their flags);
the functions that train or restore a classifier import `classify` when they run.
"""

import dataclasses
import json
import os

import numpy as np

from poem_cvmim.action import classifier_configs
from poem_cvmim.core import errors
from poem_cvmim.core import feature_tables
from poem_cvmim.core import protocol_names
from poem_cvmim.core import run_dirs
from poem_cvmim.core import shards

SINGLE_SHOT = protocol_names.SINGLE_SHOT
FULLY_SUPERVISED = protocol_names.FULLY_SUPERVISED
LIMITED = protocol_names.LIMITED
PROTOCOLS = protocol_names.PROTOCOLS
ALL_VIEWS = 'all'


def sample_fraction(train: feature_tables.FeatureSet, fraction: float, seed: int):
  """A seeded subset with round(fraction x n_c) clips of each class c (at least one)."""
  if not 0.0 < fraction <= 1.0:
    raise errors.InputError(f'fraction must be in (0, 1], got {fraction}.')
  rng = np.random.default_rng(seed)
  keep = []
  for label in np.unique(train.labels):
    members = np.flatnonzero(train.labels == label)
    count = max(1, int(round(fraction * len(members))))
    keep.extend(rng.choice(members, count, replace=False))
  return train.select(np.sort(np.array(keep)))


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One classifier run of a protocol: its training clips (one view, or a fraction of every
  view's) and its seed. A fraction of 1.0 is the fully supervised run (so a limited-supervision
  plan and a fully supervised one share it)."""
  protocol: str
  seed: int
  train_view: str = ALL_VIEWS
  fraction: float = 1.0

  def training_set(self, train_all: feature_tables.FeatureSet) -> feature_tables.FeatureSet:
    """The clips this run trains on, from the whole training split."""
    if self.protocol == SINGLE_SHOT:
      return train_all.select(train_all.views == self.train_view)
    if self.fraction < 1.0:
      return sample_fraction(train_all, self.fraction, self.seed)
    return train_all


def plan_runs(protocol: str, seeds, views=(), fractions=(1.0,)) -> list:
  """The runs of `protocol`, in the order they run: single-shot, each training view in `views`
  with every seed; fully supervised, every seed; limited, each of `fractions` with every seed
  (fraction 1.0 is the fully supervised run). Pure: reads no file."""
  if protocol not in PROTOCOLS:
    raise errors.InputError(f'Unknown protocol {protocol!r}; valid: {", ".join(PROTOCOLS)}.')
  if protocol == SINGLE_SHOT:
    if not views:
      raise errors.InputError('The single-shot protocol needs at least one training view.')
    return [RunSpec(SINGLE_SHOT, seed, train_view=view) for view in views for seed in seeds]
  fractions = check_fractions(fractions) if protocol == LIMITED else [1.0]
  return [RunSpec(LIMITED if fraction < 1.0 else FULLY_SUPERVISED, seed, fraction=fraction)
          for fraction in fractions for seed in seeds]


RESULT_NAME = 'result.json'
# Classifier fields that only schedule the run: a finished run asked for more steps continues.
_SCHEDULE_FIELDS = ('config.num_steps', 'config.checkpoint_interval', 'config.steps_per_loop')


def run_identity(name, protocol, train_view, fraction, seed, config, features) -> dict:
  """What defines one classifier run's result (recorded in its directory)."""
  return {'kind': 'classifier_run', 'name': name, 'protocol': protocol,
          'train_view': train_view, 'fraction': fraction, 'seed': seed,
          'config': dataclasses.asdict(config), 'features': features}


def run_one(name, spec: RunSpec, train, test, num_classes, config, output_dir, log=print,
            verbose=False, features=None, overwrite=False, pool=None) -> dict:
  """Trains and evaluates the classifier of `spec` on `train` (its training set); writes and
  returns its result JSON.

  `features` identifies the feature table (`run_dirs.dataset_identity`). A finished run with
  the same identity is reused; one with another identity is refused unless `overwrite`.
  `pool`: a `classify.ClassifierPool` shared by a batch of runs (None: a model of its own).
  """
  from poem_cvmim.action import classify  # pylint: disable=g-import-not-at-top
  protocol, seed, train_view, fraction = spec.protocol, spec.seed, spec.train_view, spec.fraction
  directory = classify.run_dir(output_dir, name, protocol, train_view, f'fraction{fraction:g}',
                               f'seed{seed}')
  where = f'[{name}] {protocol} train={train_view} fraction={fraction:g} seed={seed}'
  identity = run_identity(name, protocol, train_view, fraction, seed, config, features)
  result_path = os.path.join(directory, RESULT_NAME)
  with run_dirs.DirectoryLock(directory):
    same = run_dirs.check_identity(directory, identity, overwrite, _SCHEDULE_FIELDS,
                                   what='classifier run')
    if same and os.path.exists(result_path):
      with open(result_path) as f:
        result = json.load(f)
      if result.get('num_steps') == config.num_steps:
        log(f'{where}: reused the finished run in {directory} (top-1 on all test views '
            f'{100 * result["all"]["top1"]:.1f}%)')
        return result
    classifier = classify.train_classifier(config, train, num_classes, seed=seed,
                                           output_dir=directory, verbose=verbose, pool=pool)
    scores = classify.evaluate(classifier, test)
    result = {'name': name, 'protocol': protocol, 'train_view': train_view, 'seed': seed,
              'fraction': fraction, 'num_train_clips': len(train),
              'classifier': config.classifier, 'optimizer': config.optimizer,
              'num_steps': classifier.steps,
              'requested_steps': config.num_steps, 'batch_size': config.batch_size,
              'features': features, **scores}
    shards.write_json_atomic(result_path, result)
  log(f'{where}: top-1 on all test views {100 * scores["all"]["top1"]:.1f}% '
      f'({len(train)} training clips, {classifier.steps} steps)')
  return result


def check_fractions(fractions) -> list:
  """Fractions of training clips as floats in (0, 1]; a one-line error otherwise."""
  values = []
  for fraction in fractions:
    try:
      value = float(fraction)
    except ValueError:
      raise errors.InputError(f'fraction {fraction!r} is not a number.') from None
    if not 0.0 < value <= 1.0:
      raise errors.InputError(f'fraction {fraction!r} is outside (0, 1]: it is a share of the '
                       'training clips (0.1 = 10 %).')
    values.append(value)
  return values


def run_protocol(name, feature_dir, protocol, config, seeds, output_dir, train_views=None,
                 fractions=(1.0,), log=print, verbose=False, overwrite=False,
                 pool=None) -> list:
  """Every run of a protocol on one feature table; returns the result dicts.

  `verbose` shows progress lines for each classifier's training; `overwrite` replaces runs
  made with other settings or other features (otherwise they are refused). The runs share
  `pool` (a `classify.ClassifierPool`; by default one of their own).
  """
  from poem_cvmim.action import classify  # pylint: disable=g-import-not-at-top
  if protocol not in PROTOCOLS:
    raise errors.InputError(f'Unknown protocol {protocol!r}; valid: {", ".join(PROTOCOLS)}.')
  if protocol == LIMITED:
    check_fractions(fractions)
  manifest = shards.read_manifest(feature_dir)
  views = list(train_views or manifest['views']) if protocol == SINGLE_SHOT else ()
  unknown = [v for v in views if v not in manifest['views']]
  if unknown:
    raise errors.InputError(f'Unknown training view(s) {unknown}; available views: '
                            f'{manifest["views"]}.')
  specs = plan_runs(protocol, seeds, views, fractions)
  features = run_dirs.dataset_identity(feature_dir)
  train_all = feature_tables.load_feature_set(feature_dir, 'train')
  test = feature_tables.load_feature_set(feature_dir, 'test')
  for view in views:
    if not np.any(train_all.views == view):
      raise errors.InputError(f'No training clips of view {view!r} in {feature_dir}.')
  pool = pool or classify.ClassifierPool()
  return [run_one(name, spec, spec.training_set(train_all), test, len(manifest['classes']),
                  config, output_dir, log=log, verbose=verbose, features=features,
                  overwrite=overwrite, pool=pool) for spec in specs]


def check_trained_on(run_dir: str, feature_dir: str) -> None:
  """Raises RunConflictError unless `feature_dir` is the feature table the run's identity
  records (the same manifest, so the same encoder, data and shards)."""
  identity = run_dirs.read_identity(run_dir) or {}
  trained = identity.get('features')
  if not trained:
    raise run_dirs.RunConflictError(
        f'{run_dir} does not record the feature table it was trained on (no "features" in its '
        f'{run_dirs.IDENTITY_NAME}); pass --other_features to evaluate it on {feature_dir} anyway.')
  given = run_dirs.dataset_identity(feature_dir)
  if given['manifest_sha256'] != trained.get('manifest_sha256'):
    raise run_dirs.RunConflictError(
        f'{run_dir} was trained on the features {trained.get("path")} '
        f'({_embedder_of(trained.get("path"))}), not on {feature_dir} '
        f'({_embedder_of(feature_dir)}); its scores there would be another encoder\'s. Give '
        'that table, or pass --other_features to evaluate it on this one deliberately.')


def _embedder_of(feature_dir) -> str:
  try:
    return f'embedder {shards.read_manifest(feature_dir).get("embedder", "unknown")}'
  except (OSError, ValueError):
    return 'its manifest cannot be read'


def evaluate_run(run_dir: str, feature_dir: str, split: str = 'test', views=None,
                 other_features: bool = False) -> dict:
  """Scores of a finished run's EMA weights on (views of) a feature table's split.

  The table must be the one the run was trained on (`check_trained_on`) unless
  `other_features`.
  """
  result_path = os.path.join(run_dir, RESULT_NAME)
  if not os.path.exists(result_path):
    raise FileNotFoundError(f'No result.json in {run_dir}: not a finished classifier run.')
  with open(result_path) as f:
    run = json.load(f)
  if not other_features:
    check_trained_on(run_dir, feature_dir)
  manifest = shards.read_manifest(feature_dir)
  data = feature_tables.load_feature_set(feature_dir, split, views)
  from poem_cvmim.action import classify  # pylint: disable=g-import-not-at-top
  classifier = classify.restore_classifier(run_dir, run['classifier'],
                                           data.features.shape[1:], len(manifest['classes']),
                                           run.get('optimizer', classifier_configs.ADAM_EMA))
  return classify.evaluate(classifier, data)
