"""Tables rebuilt from per-run result files: Markdown, CSV and LaTeX (no retraining)."""

import glob
import json
import os

import numpy as np
import pandas as pd

from poem_cvmim.action import protocols


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
                        if r['protocol'] == protocols.SINGLE_SHOT])
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
                        if r['protocol'] in (protocols.LIMITED, protocols.FULLY_SUPERVISED)])
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
