"""Evaluation protocols in code (SPEC §7.4) and their tables.

- single-shot cross-view: for each training view v, train on view v of the training split only,
  test on every view of the test split;
- fully supervised: train on every training view, test on every test view;
- limited supervision: fully supervised with a fraction of training clips per class.
Each run writes a JSON file; tables are rebuilt from those files without retraining.
"""

import glob
import json
import os

import numpy as np
import pandas as pd

from poem_cvmim import classify
from poem_cvmim import features as features_lib
from poem_cvmim import shards

SINGLE_SHOT = 'single_shot'
FULLY_SUPERVISED = 'fully_supervised'
LIMITED = 'limited'
PROTOCOLS = (SINGLE_SHOT, FULLY_SUPERVISED, LIMITED)
ALL_VIEWS = 'all'


def sample_fraction(train: features_lib.FeatureSet, fraction: float, seed: int):
  """A seeded subset with round(fraction x n_c) clips of each class c (at least one)."""
  if not 0.0 < fraction <= 1.0:
    raise ValueError(f'fraction must be in (0, 1], got {fraction}.')
  rng = np.random.default_rng(seed)
  keep = []
  for label in np.unique(train.labels):
    members = np.flatnonzero(train.labels == label)
    count = max(1, int(round(fraction * len(members))))
    keep.extend(rng.choice(members, count, replace=False))
  return train.select(np.sort(np.array(keep)))


def run_one(name, protocol, train, test, num_classes, config, seed, output_dir,
            train_view=ALL_VIEWS, fraction=1.0, log=print, verbose=False) -> dict:
  """Trains and evaluates one classifier; writes and returns its result JSON."""
  directory = classify.run_dir(output_dir, name, protocol, train_view, f'fraction{fraction:g}',
                               f'seed{seed}')
  classifier = classify.train_classifier(config, train, num_classes, seed=seed,
                                         output_dir=directory, verbose=verbose)
  scores = classify.evaluate(classifier, test)
  result = {'name': name, 'protocol': protocol, 'train_view': train_view, 'seed': seed,
            'fraction': fraction, 'num_train_clips': len(train),
            'classifier': config.classifier, 'num_steps': config.num_steps,
            'batch_size': config.batch_size, **scores}
  with open(os.path.join(directory, 'result.json'), 'w') as f:
    json.dump(result, f, indent=2)
  log(f'[{name}] {protocol} train={train_view} fraction={fraction:g} seed={seed}: '
      f'top-1 on all test views {100 * scores["all"]["top1"]:.1f}% '
      f'({len(train)} training clips)')
  return result


def run_protocol(name, feature_dir, protocol, config, seeds, output_dir, train_views=None,
                 fractions=(1.0,), log=print, verbose=False) -> list:
  """Every run of a protocol on one feature table; returns the result dicts.

  `verbose` shows a progress bar for each classifier's training.
  """
  if protocol not in PROTOCOLS:
    raise ValueError(f'Unknown protocol {protocol!r}; valid: {", ".join(PROTOCOLS)}.')
  manifest = shards.read_manifest(feature_dir)
  num_classes = len(manifest['classes'])
  train_all = features_lib.load_feature_set(feature_dir, 'train')
  test = features_lib.load_feature_set(feature_dir, 'test')
  results = []
  if protocol == SINGLE_SHOT:
    views = list(train_views or manifest['views'])
    unknown = [v for v in views if v not in manifest['views']]
    if unknown:
      raise ValueError(f'Unknown training view(s) {unknown}; available views: '
                       f'{manifest["views"]}.')
    for view in views:
      train = train_all.select(train_all.views == view)
      if len(train) == 0:
        raise ValueError(f'No training clips of view {view!r} in {feature_dir}.')
      for seed in seeds:
        results.append(run_one(name, protocol, train, test, num_classes, config, seed,
                               output_dir, train_view=view, log=log, verbose=verbose))
    return results
  for fraction in (fractions if protocol == LIMITED else (1.0,)):
    for seed in seeds:
      train = sample_fraction(train_all, fraction, seed) if fraction < 1.0 else train_all
      results.append(run_one(name, protocol, train, test, num_classes, config, seed,
                             output_dir, fraction=fraction, log=log, verbose=verbose))
  return results


def load_results(output_dir: str) -> list:
  files = sorted(glob.glob(os.path.join(output_dir, '**', 'result.json'), recursive=True))
  results = []
  for path in files:
    with open(path) as f:
      results.append(json.load(f))
  return results


def _cell(values):
  values = 100.0 * np.asarray(values)
  return f'{values.mean():.1f} ± {values.std():.1f}' if len(values) > 1 else f'{values[0]:.1f}'


def single_shot_table(results: list, metric: str = 'top1') -> pd.DataFrame:
  """Rows: names; columns: training views + Average; cells: mean ± std over seeds (in %) of
  the accuracy on all test views. Average: the per-seed mean over training views."""
  frame = pd.DataFrame([{'name': r['name'], 'train_view': r['train_view'], 'seed': r['seed'],
                         'value': r['all'][metric]} for r in results
                        if r['protocol'] == SINGLE_SHOT])
  if frame.empty:
    raise ValueError('No single-shot results to tabulate.')
  views = list(dict.fromkeys(frame['train_view']))
  rows = {}
  for name, group in frame.groupby('name', sort=False):
    row = {view: _cell(group[group.train_view == view]['value']) for view in views}
    row['Average'] = _cell(group.groupby('seed')['value'].mean())
    rows[name] = row
  return pd.DataFrame.from_dict(rows, orient='index', columns=views + ['Average'])


def fraction_table(results: list, metric: str = 'top1') -> pd.DataFrame:
  """Rows: names; columns: fractions of training clips; cells: mean ± std over seeds (%)."""
  frame = pd.DataFrame([{'name': r['name'], 'fraction': r['fraction'], 'seed': r['seed'],
                         'value': r['all'][metric]} for r in results
                        if r['protocol'] in (LIMITED, FULLY_SUPERVISED)])
  if frame.empty:
    raise ValueError('No fully supervised or limited-supervision results to tabulate.')
  fractions = sorted(frame['fraction'].unique())
  table = {name: {f'{100 * f:g}%': _cell(g[g.fraction == f]['value']) for f in fractions
                  if (g.fraction == f).any()} for name, g in frame.groupby('name', sort=False)}
  return pd.DataFrame.from_dict(table, orient='index')


def to_markdown(table: pd.DataFrame) -> str:
  """A GitHub Markdown table (no extra dependency)."""
  header = ['', *table.columns]
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for name, row in table.iterrows():
    lines.append('| ' + ' | '.join([str(name), *[str(v) for v in row.values]]) + ' |')
  return '\n'.join(lines)


def write_table(table: pd.DataFrame, path_stem: str) -> str:
  """Writes `<stem>.md`, `<stem>.csv` and `<stem>.tex`; returns the Markdown."""
  markdown = to_markdown(table)
  with open(path_stem + '.md', 'w') as f:
    f.write(markdown + '\n')
  table.to_csv(path_stem + '.csv')
  with open(path_stem + '.tex', 'w') as f:
    columns = 'l' + 'c' * len(table.columns)
    f.write(f'\\begin{{tabular}}{{{columns}}}\n & ' + ' & '.join(table.columns) + ' \\\\\n')
    for name, row in table.iterrows():
      f.write(f'{name} & ' + ' & '.join(str(v).replace('±', '$\\pm$') for v in row.values)
              + ' \\\\\n')
    f.write('\\end{tabular}\n')
  return markdown
