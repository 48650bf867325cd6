"""Tables rebuilt from per-run result files: Markdown, CSV and LaTeX (no retraining)."""

import glob
import json
import os

import numpy as np
import pandas as pd

from poem_cvmim.core import errors
from poem_cvmim.core import protocol_names as protocols


def load_results(output_dir: str) -> list:
  files = sorted(glob.glob(os.path.join(output_dir, '**', 'result.json'), recursive=True))
  results = []
  for path in files:
    with open(path) as f:
      results.append(json.load(f))
  return results


MISSING = '–'  # a run that does not exist (yet): never shown as 0


def _cell(values):
  values = 100.0 * np.asarray(values)
  if not len(values):
    return MISSING
  return f'{values.mean():.1f} ± {values.std():.1f}' if len(values) > 1 else f'{values[0]:.1f}'


def _cells(*values_per_metric):
  """'a ± s / b ± t': each metric's cell (`_cell`), joined; MISSING when there are none."""
  if not len(values_per_metric[0]):
    return MISSING
  return ' / '.join(_cell(v) for v in values_per_metric)


def single_shot_table(results: list, metric: str = 'top1', rows=None, views=None,
                      metrics=None) -> pd.DataFrame:
  """Rows: names; columns: training views + Average; cells: mean ± std over replicates (in %)
  of the accuracy on all test views, a replicate being a classifier seed on one encoder
  (`encoder_seed` of a result, where given). Average: the per-replicate mean over views.

  `rows` and `views` fix the order (and name rows or views without results, shown as
  MISSING); `metrics` (e.g. ('top1', 'top5')) gives cells 'top-1 ± std / top-5 ± std'.
  """
  metrics = tuple(metrics or (metric,))
  # A replicate is one classifier seed on one encoder (results may carry `encoder_seed`).
  frame = pd.DataFrame([{'name': r['name'], 'train_view': r['train_view'],
                         'seed': f'{r.get("encoder_seed")}/{r["seed"]}',
                         **{m: r['all'][m] for m in metrics}} for r in results
                        if r['protocol'] == protocols.SINGLE_SHOT])
  if frame.empty and not rows:
    raise errors.InputError('No single-shot results to tabulate.')
  if frame.empty:
    frame = pd.DataFrame(columns=['name', 'train_view', 'seed', *metrics])
  views = list(views or dict.fromkeys(frame['train_view']))
  names = list(rows or dict.fromkeys(frame['name']))
  table = {}
  for name in names:
    group = frame[frame.name == name]
    def cell(selected):
      if len(metrics) > 1:
        return _cells(*[selected[m] for m in metrics])
      return _cell(selected[metrics[0]])
    row = {view: cell(group[group.train_view == view]) for view in views}
    # The Average over views, per seed, of seeds that have every view.
    complete = [seed for seed, g in group.groupby('seed') if set(views) <= set(g.train_view)]
    per_seed = group[group.seed.isin(complete) & group.train_view.isin(views)].groupby('seed')
    row['Average'] = cell(per_seed[list(metrics)].mean()) if complete else MISSING
    table[name] = row
  return pd.DataFrame.from_dict(table, orient='index', columns=views + ['Average'])


def column_table(results: list, rows, columns: dict, metric: str = 'top1') -> pd.DataFrame:
  """Rows: names; columns: {title: predicate(result) -> bool}; cells: mean ± std over seeds
  (%) of the accuracy on all test clips of the matching runs; MISSING where none."""
  table = {name: {title: _cell([r['all'][metric] for r in results
                                if r['name'] == name and chosen(r)])
                  for title, chosen in columns.items()} for name in rows}
  return pd.DataFrame.from_dict(table, orient='index', columns=list(columns))


OVERLAP_COLUMN = 'within the spread of'


def parse_cell(cell):
  """(mean, std) of a cell 'm ± s' or 'm' (std 0), of its first metric in a cell of several
  ('m ± s / n ± t': top-1's); None for MISSING."""
  mean, _, std = str(cell).partition(' / ')[0].partition(' ± ')
  try:
    return float(mean), float(std or 0)
  except ValueError:
    return None


def _interval(cell):
  parsed = parse_cell(cell)
  return parsed and (parsed[0] - parsed[1], parsed[0] + parsed[1])


def mark_overlaps(table: pd.DataFrame, column) -> pd.DataFrame:
  """`table` with a column OVERLAP_COLUMN naming, for each row, the other rows whose mean ±
  std interval in `column` overlaps its own (what the spread cannot tell apart)."""
  intervals = {name: _interval(cell) for name, cell in table[column].items()}
  table = table.copy()
  table[OVERLAP_COLUMN] = [
      ', '.join(other for other, b in intervals.items()
                if other != name and a and b and a[0] <= b[1] and b[0] <= a[1]) or MISSING
      for name, a in intervals.items()]
  return table


def fraction_table(results: list, metric: str = 'top1') -> pd.DataFrame:
  """Rows: names; columns: fractions of training clips; cells: mean ± std over seeds (%)."""
  frame = pd.DataFrame([{'name': r['name'], 'fraction': r['fraction'], 'seed': r['seed'],
                         'value': r['all'][metric]} for r in results
                        if r['protocol'] in (protocols.LIMITED, protocols.FULLY_SUPERVISED)])
  if frame.empty:
    raise errors.InputError('No fully supervised or limited-supervision results to tabulate.')
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


def write_table(table: pd.DataFrame, path_stem: str, note: str = '') -> str:
  """Writes `<stem>.md` (with `note` below the table), `<stem>.csv` and `<stem>.tex`;
  returns the Markdown."""
  markdown = to_markdown(table) + (f'\n\n{note}' if note else '')
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
