"""The paper-table commands on the smoke preset: each table's shape and cell format, runs
shared between tables, a killed command that resumes with only the missing runs, and the plan."""

import dataclasses
import json
import os
import re

import pytest

from experiments import paper_tables
from experiments import run_plan
from experiments import table_command
from poem_cvmim.evaluation import tables
from poem_cvmim.representation import config_files
from poem_cvmim.representation import configs

# A few rows a table (the others render as missing), so that the suite stays short.
_ROWS = {'table1': ('Temporal ConvNet', 'CV-MIM'), 'table2': ('Res-TCN',),
         'table3': ('CV-MIM',), 'table4': ('Temporal ConvNet',),
         'table5': ('Mixture',), 'figure3': ('Temporal ConvNet',)}
_CELL = re.compile(r'^\d{1,3}\.\d$')
_TOP1_TOP5 = re.compile(r'^\d{1,3}\.\d / \d{1,3}\.\d$')


@pytest.fixture(scope='module')
def inputs(smoke_dir):
  return paper_tables.Inputs(os.path.join(smoke_dir, 'pairs', 'train-*'),
                             {paper_tables.PENN: os.path.join(smoke_dir, 'penn_like'),
                              paper_tables.NTU: os.path.join(smoke_dir, 'ntu_like')})


def test_every_command_renders_its_table(inputs, tmp_path):
  out = str(tmp_path)
  outcomes = {name: table_command.run(name, out, 'smoke', rows=_ROWS[name], inputs=inputs,
                                      log=lambda _: None)
              for name in ('table1', 'table5', 'table2', 'table3', 'table4', 'figure3')}
  columns = {'table1': ['left', 'right', 'front', 'back', 'Average'],
             'table2': ['Top-1'], 'table4': ['Cross-subject', 'Cross-view'],
             'table3': ['C1R1', 'C1R2', 'C2R1', 'C2R2', 'C3R1', 'C3R2', 'Average'],
             'table5': ['left', 'right', 'front', 'back', 'Average']}
  for name, expected in columns.items():
    frame = outcomes[name]['table']
    table = paper_tables.TABLES[name]
    assert list(frame.index) == table.shown_rows(), name
    assert list(frame.columns) == expected + [tables.OVERLAP_COLUMN], name
    frame = frame[expected].set_axis(list(table.rows))
    # Tables 3 and 4 mark the row the paper's tables do not have.
    added = [r for r in frame.index if r == 'Temporal ConvNet' and name in ('table3', 'table4')]
    assert [r for r in table.shown_rows() if r.endswith(paper_tables.ADDED)] == [
        f'{r} {paper_tables.ADDED}' for r in added], name
    assert re.search(r'Cells: mean ± std over (1 encoder x )?1 classifier seed',
                     outcomes[name]['markdown']), name
    assert outcomes[name]['markdown'] in open(os.path.join(out, 'smoke', f'{name}.md')).read()
    pattern = _TOP1_TOP5 if name == 'table3' else _CELL
    for row in table.rows:
      cells = list(frame.loc[row])
      if row in _ROWS[name]:
        assert all(pattern.match(c) for c in cells), (name, row, cells)
      else:  # never run: shown as missing, never as 0
        assert cells == [tables.MISSING] * len(cells), (name, row, cells)
    for suffix in ('md', 'csv', 'tex'):
      assert os.path.exists(os.path.join(out, 'smoke', f'{name}.{suffix}'))
  # Table 5's Mixture is Table 1's (and Table 3's) CV-MIM: one encoder trained once.
  assert outcomes['table5']['plan'].runs.keys() & outcomes['table1']['plan'].runs.keys()
  assert len(os.listdir(os.path.join(out, 'smoke', 'encoders'))) == 1
  # Figure 3: a table per dataset, a column per fraction, the PNG and its CSV.
  frames = outcomes['figure3']['table']
  assert set(frames) == {'penn', 'ntu'}
  for frame in frames.values():
    assert list(frame.columns) == ['50%', '100%']
    assert all(_CELL.match(c) for c in frame.loc['Temporal ConvNet'])
    assert list(frame.loc['CV-MIM']) == [tables.MISSING] * 2
  assert os.path.getsize(os.path.join(out, 'smoke', 'figure3.png')) > 10_000
  lines = open(os.path.join(out, 'smoke', 'figure3.csv')).read().splitlines()
  assert lines[0] == 'dataset,method,fraction,top1_mean,top1_std' and len(lines) == 9


def test_published_numbers_sit_beside_ours(inputs):
  """Every number paper_numbers.json records lands in its table's row and column (a misspelt
  row or column there would show '–'), and every row of each table has the paper's columns."""
  with open(paper_tables.PAPER_NUMBERS) as f:
    published = json.load(f)['tables']
  for name in ('table1', 'table2', 'table3', 'table4', 'table5'):
    table = paper_tables.TABLES[name]
    frame = paper_tables.render(table, {}, inputs, with_paper=True).set_axis(list(table.rows))
    ours = [c for c in frame.columns if not c.endswith(' (paper)') and c != tables.OVERLAP_COLUMN]
    assert len(frame.columns) == 2 * len(ours) + 1, name
    shown = {(row, column[:-len(' (paper)')]): value for row in table.rows
             for column, value in frame.loc[row].items()
             if column.endswith(' (paper)') and value != tables.MISSING}
    assert shown == {(row, column): value for row, cells in published[name].items()
                     for column, value in cells.items()}, name
  frame = paper_tables.render(paper_tables.TABLES['table1'], {'CV-MIM': []}, inputs,
                              with_paper=True)
  assert frame.loc['CV-MIM', 'Average (paper)'] == '91.75'
  assert frame.loc['Pr-VIPE', 'Average (paper)'] == '89.03'
  assert frame.loc['CV-MIM', 'Average'] == tables.MISSING
  assert frame.loc['DIM', 'Left (paper)'] == tables.MISSING


class _Killed(Exception):
  pass


def test_a_killed_command_runs_only_what_was_missing(inputs, tmp_path):
  out, started = str(tmp_path), []

  def kill_after_three(message):
    if message.endswith(' s') and 'done in' in message:
      started.append(message)
      if len(started) == 3:
        raise _Killed()

  plan = table_command.run('table2', out, 'smoke', rows=('Res-TCN', 'Temporal ConvNet'),
                           seeds=(0, 1), inputs=inputs, dry_run=True,
                           log=lambda _: None)['plan']
  total = len(plan.runs)
  assert total == 5  # the raw feature table and 2 rows x 2 seeds
  with pytest.raises(_Killed):
    table_command.run('table2', out, 'smoke', rows=('Res-TCN', 'Temporal ConvNet'),
                      seeds=(0, 1), inputs=inputs, log=kill_after_three)
  again = table_command.run('table2', out, 'smoke', rows=('Res-TCN', 'Temporal ConvNet'),
                            seeds=(0, 1), inputs=inputs, log=lambda _: None)
  assert again['ran'] == total - 3
  assert table_command.run('table2', out, 'smoke', rows=('Res-TCN', 'Temporal ConvNet'),
                           seeds=(0, 1), inputs=inputs, log=lambda _: None)['ran'] == 0
  dry = table_command.run('table2', out, 'smoke', inputs=inputs, dry_run=True,
                          log=lambda _: None)['plan'].describe()
  assert '[done ] Res-TCN: RESTCN fully_supervised 1 seed 0' in dry
  assert '[to do] train DISENTANGLE_MOE (4 steps)' in dry  # the rows not run yet
  assert dry.count('[done ]') == 3  # raw features, and both rows' seed 0
  with pytest.raises(ValueError, match="table2 has no row 'ST-GCN'"):
    table_command.run('table2', out, 'smoke', rows=('ST-GCN',), inputs=inputs)


def test_rows_left_out_by_rows_still_show_the_results_they_have(inputs, tmp_path):
  """`--rows` chooses what runs, not what shows: a row finished earlier keeps its numbers."""
  out = str(tmp_path)
  first = table_command.run('table1', out, 'smoke', rows=['Temporal ConvNet'], inputs=inputs,
                            log=lambda _: None)['table']
  second = table_command.run('table1', out, 'smoke', rows=['Res-TCN'], inputs=inputs,
                             log=lambda _: None)
  # Planned: the raw feature table (done by the first) and Res-TCN's runs, which ran.
  assert second['ran'] == len(second['plan'].runs) - 1
  table = second['table'].drop(columns=tables.OVERLAP_COLUMN)
  first = first.drop(columns=tables.OVERLAP_COLUMN)
  assert list(table.loc['Temporal ConvNet']) == list(first.loc['Temporal ConvNet'])
  assert all(_CELL.match(c) for c in table.loc['Res-TCN'])
  assert list(table.loc['CV-MIM']) == [tables.MISSING] * 5


def test_a_dry_run_generates_nothing(tmp_path):
  preset = paper_tables.PRESETS['smoke']
  logged = []
  planned = paper_tables.synthetic_inputs(preset, str(tmp_path), log=logged.append,
                                          generate=False)
  outcome = table_command.run('table1', str(tmp_path), 'smoke', rows=['Temporal ConvNet'],
                              dry_run=True, inputs=planned, log=logged.append)
  assert outcome['table'] is None and outcome['ran'] == 0
  assert os.listdir(tmp_path) == []
  assert any('not generated yet' in line for line in logged)
  assert any('to do' in line for line in logged)


def test_two_workers_share_a_plan_each_run_once_and_render_the_one_process_table(tmp_path):
  """`--shard=K/N`: two worker processes on one output directory (data generated by one of
  them while the other waits) do every run exactly once and print the table one process
  renders."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  rows = _ROWS['table1']
  shared = tmp_path / 'shared'
  workers = [subprocess.Popen(
      [sys.executable, '-m', 'experiments.table1', '--preset=smoke', f'--output_dir={shared}',
       f'--rows={",".join(rows)}', f'--shard={k}/2'], cwd=root, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for k in range(2)]
  outputs = [w.communicate(timeout=900) for w in workers]
  for worker, (out, err) in zip(workers, outputs):
    assert worker.returncode == 0, err[-3000:]
  started = [line.split('] ', 1)[1] for out, _ in outputs for line in out.splitlines()
             if re.match(r'^\[run \d+ of \d+\] ', line) and 'done in' not in line]
  plan = table_command.run('table1', str(shared), 'smoke', rows=rows, dry_run=True,
                           inputs=paper_tables.synthetic_inputs(
                               paper_tables.PRESETS['smoke'], str(shared)),
                           log=lambda _: None)['plan']
  assert sorted(started) == sorted(r.description for r in plan.runs.values())  # each once
  alone = tmp_path / 'alone'
  table_command.run('table1', str(alone), 'smoke', rows=rows, log=lambda _: None,
                    inputs=paper_tables.synthetic_inputs(paper_tables.PRESETS['smoke'],
                                                         str(alone), log=lambda _: None))
  expected = (alone / 'smoke' / 'table1.md').read_text()
  assert (shared / 'smoke' / 'table1.md').read_text() == expected
  for out, _ in outputs:
    assert expected.strip() in out


def test_a_shard_is_k_of_n():
  assert run_plan.parse_shard('1/4') == (1, 4)
  for bad in ('4/4', '-1/2', '1', 'a/b', '0/0'):
    with pytest.raises(ValueError, match='--shard'):
      run_plan.parse_shard(bad)


def test_a_dry_run_estimates_from_reference_costs_then_from_this_directorys_timings(
    inputs, tmp_path):
  out = str(tmp_path)
  first = table_command.run('table2', out, 'smoke', rows=('Res-TCN',), inputs=inputs,
                            dry_run=True, log=lambda _: None)
  plan, estimate = first['plan'], first['estimate']
  runs = list(plan.runs.values())
  assert estimate['defaults'] == len(runs) and estimate['measured'] == 0
  # Res-TCN's runs at its own reference cost, a feature table at the kind's.
  expected = sum(run_plan.DEFAULT_SECONDS_PER_UNIT['features' if r.kind == 'features'
                                                   else 'classifier RESTCN'] * r.cost.units
                 for r in runs)
  assert estimate['seconds'] == pytest.approx(expected)
  # Timings recorded by executed runs of the same class replace the reference cost.
  classifier_class = next(r.cost.name for r in runs if r.kind == 'classifier')
  plan._record(runs[-1], 60.0)  # pylint: disable=protected-access
  with open(os.path.join(plan.root, run_plan.TIMINGS_NAME), 'a') as f:
    f.write('{"class": "cut by a kill", "un')  # a torn last line is skipped
  again = table_command.run('table2', out, 'smoke', rows=('Res-TCN',), inputs=inputs,
                            dry_run=True, log=lambda _: None)['estimate']
  per_step = 60.0 / runs[-1].cost.units
  classifiers = [r for r in runs if r.cost.name == classifier_class]
  assert again['measured'] == len(classifiers)
  assert again['by_kind']['classifier'] == pytest.approx(
      sum(per_step * r.cost.units for r in classifiers))


def test_all_tables_and_figure3_share_their_encoders_and_feature_tables(tmp_path):
  """One plan of every table and Figure 3: each representation is trained once (Table 1's
  seven, and Table 5's four ablations beside its Mixture, which is Table 1's CV-MIM) and
  each encoder's features of each sequence set are extracted once."""
  preset = paper_tables.PRESETS['synthetic']
  inputs = paper_tables.synthetic_inputs(preset, str(tmp_path), generate=False,
                                         log=lambda _: None)
  plan = run_plan.Plan(str(tmp_path / 'synthetic'))
  added = {}
  for name in ('table1', 'table2', 'table3', 'table4', 'table5', 'figure3'):
    before = {r.directory for r in plan.runs.values() if r.kind == 'encoder'}
    paper_tables.build(paper_tables.TABLES[name], preset, inputs, plan)
    added[name] = {r.directory for r in plan.runs.values() if r.kind == 'encoder'} - before
  # Three encoder seeds per representation (the synthetic preset's).
  assert preset.encoder_seeds == (0, 1, 2)
  assert [len(added[n]) for n in added] == [7 * 3, 0, 0, 0, 4 * 3, 0]
  features = [r for r in plan.runs.values() if r.kind == 'features']
  assert len({(json.dumps(r.key['encoder'], sort_keys=True), r.key['sequences'])
              for r in features}) == len(features)
  # 7 x 3 encoders + raw on both sets for Tables 1-4 and Figure 3; Table 5's 4 x 3 on penn.
  assert len(features) == 2 * (7 * 3 + 1) + 4 * 3


def test_a_cell_pools_encoders_and_classifier_seeds(inputs, tmp_path):
  """Two encoder seeds: the CV-MIM row trains two encoders and its cells pool both (an Average
  per encoder and classifier seed); the raw-keypoint row is trained once."""
  outcome = table_command.run('table1', str(tmp_path), 'smoke',
                              rows=('Temporal ConvNet', 'CV-MIM'), encoder_seeds=(0, 1),
                              inputs=inputs, log=lambda _: None)
  assert len(os.listdir(tmp_path / 'smoke' / 'encoders')) == 2
  frame = outcome['table']
  assert all(' ± ' in cell for cell in frame.loc['CV-MIM', ['left', 'Average']])
  assert re.match(_CELL, frame.loc['Temporal ConvNet', 'Average'])
  assert ('Cells: mean ± std over 1 classifier seed (raw keypoints) for Temporal ConvNet; '
          '2 encoders x 1 classifier seed for CV-MIM.') in outcome['markdown']


def test_the_average_is_taken_per_encoder_and_classifier_seed():
  def result(encoder_seed, view, value):
    return {'name': 'm', 'protocol': 'single_shot', 'train_view': view, 'seed': 0,
            'encoder_seed': encoder_seed, 'all': {'top1': value}}
  results = [result(0, 'a', 0.5), result(0, 'b', 0.7), result(1, 'a', 0.8), result(1, 'b', 1.0)]
  frame = tables.single_shot_table(results)
  # Replicates (0, 0): 60 %, (1, 0): 90 % -> 75 ± 15; the views pool both encoders.
  assert frame.loc['m', 'Average'] == '75.0 ± 15.0'
  assert frame.loc['m', 'a'] == '65.0 ± 15.0'


def test_top1_top5_cells_carry_each_metrics_spread_and_marks_compare_top1():
  def result(name, encoder_seed, seed, top1, top5):
    return {'name': name, 'protocol': 'single_shot', 'train_view': 'a', 'seed': seed,
            'encoder_seed': encoder_seed, 'all': {'top1': top1, 'top5': top5}}
  results = [result('m', 0, 0, 0.5, 0.8), result('m', 1, 0, 0.7, 0.9),
             result('n', 0, 0, 0.62, 0.99), result('n', 0, 1, 0.62, 0.97),
             result('o', 0, 0, 0.9, 0.81), result('o', 0, 1, 0.9, 0.79)]
  frame = tables.single_shot_table(results, metrics=('top1', 'top5'))
  assert list(frame.loc['m']) == ['60.0 ± 10.0 / 85.0 ± 5.0'] * 2
  assert frame.loc['n', 'Average'] == '62.0 ± 0.0 / 98.0 ± 1.0'
  assert tables.parse_cell(frame.loc['m', 'Average']) == (60.0, 10.0)
  # m's top-1 (50-70) holds n's (62) but not o's (90); by top-5 o would overlap m instead.
  marked = tables.mark_overlaps(frame, 'Average')[tables.OVERLAP_COLUMN]
  assert list(marked) == ['n', 'm', tables.MISSING]


def test_rows_within_each_others_spread_are_marked():
  import pandas as pd  # pylint: disable=g-import-not-at-top
  frame = pd.DataFrame({'Average': ['80.0 ± 2.0', '83.0 ± 1.5', '90.0 ± 1.0', tables.MISSING]},
                       index=['a', 'b', 'c', 'd'])
  marked = tables.mark_overlaps(frame, 'Average')[tables.OVERLAP_COLUMN]
  assert list(marked) == ['b', 'a', tables.MISSING, tables.MISSING]


def test_table4_cross_view_comes_from_the_xview_conversion(smoke_dir, tmp_path):
  """With an NTU directory converted with --benchmark=xview, Table 4's cross-view column is
  trained and scored on it (all its views: cameras 2, 3 -> 1), the cross-subject column on the
  subject split; without it, the cross-view runs select cameras within the subject split."""
  from data_prep import ntu_rgbd_dataset as ntu  # pylint: disable=g-import-not-at-top
  from tests.testdata import make_fixtures as fx  # pylint: disable=g-import-not-at-top
  skeletons = os.path.join(fx.HERE, fx.NTU, 'skeletons')
  for benchmark in (ntu.XSUB, ntu.XVIEW):
    ntu.convert(ntu.NtuConfig(input_dir=skeletons, output_dir=str(tmp_path / benchmark),
                              benchmark=benchmark), log=lambda _: None)
  xsub, xview = str(tmp_path / ntu.XSUB / 'sequences'), str(tmp_path / ntu.XVIEW / 'sequences')
  pairs = os.path.join(smoke_dir, 'pairs', 'train-*')
  inputs = paper_tables.Inputs(pairs, {paper_tables.NTU: xsub}, ntu_xview=xview)
  outcome = table_command.run('table4', str(tmp_path / 'out'), 'smoke',
                              rows=('Temporal ConvNet',), inputs=inputs, log=lambda _: None)
  classifiers = [r for r in outcome['plan'].runs.values() if r.kind == 'classifier']
  assert sorted(r.key['features']['sequences'] for r in classifiers) == sorted(
      [os.path.abspath(xsub), os.path.abspath(xview)])
  assert all(not r.key['train_views'] for r in classifiers)
  row = f'Temporal ConvNet {paper_tables.ADDED}'
  assert all(_CELL.match(c) for c in outcome['table'].loc[row, ['Cross-subject', 'Cross-view']])
  fallback = paper_tables.build(paper_tables.TABLES['table4'], paper_tables.PRESETS['smoke'],
                                paper_tables.Inputs(pairs, {paper_tables.NTU: xsub}),
                                run_plan.Plan(str(tmp_path / 'fallback')),
                                rows=('Temporal ConvNet',))
  assert [r.key['train_views'] for r in fallback['Temporal ConvNet']] == [
      [], list(paper_tables.CROSS_VIEW_TRAIN)]


def test_a_run_is_the_same_run_however_its_paths_are_written(tmp_path, monkeypatch):
  """Relative, absolute and symlinked spellings of the same records key the same encoder and
  feature runs (a plan made by `--output_dir=out/paper` is found by `/abs/out/paper`); an
  encoder a plan made before keys took real paths is adopted under the spelling it used."""
  (tmp_path / 'data' / 'pairs').mkdir(parents=True)
  (tmp_path / 'data' / 'penn').mkdir()
  os.symlink(tmp_path / 'data', tmp_path / 'linked')
  monkeypatch.chdir(tmp_path)
  config = configs.smoke_config(seed=0)
  def runs(data_dir):
    plan = run_plan.Plan(str(tmp_path / 'plan'))
    encoder = plan.encoder('cvmim', dataclasses.replace(
        config, input_table=os.path.join(data_dir, 'pairs', 'train-*')))
    return encoder, plan.features(encoder, os.path.join(data_dir, 'penn'), 2)
  spellings = ['data', str(tmp_path / 'data'), 'linked', './data/../data']
  found = [runs(d) for d in spellings]
  assert len({(e.directory, f.directory) for e, f in found}) == 1
  assert found[0][0].key['config']['input_table'] == str(tmp_path / 'data' / 'pairs' / 'train-*')
  # Made by the previous code with the path as written: adopted, not trained again.
  plan = run_plan.Plan(str(tmp_path / 'plan'))
  legacy_key = {'kind': 'encoder', 'config': config_files.flat_dict(dataclasses.replace(
      config, input_table='old/pairs/train-*', output_dir=''))}
  legacy = tmp_path / 'plan' / 'encoders' / f'cvmim-{run_plan.key_hash(legacy_key)}'
  legacy.mkdir(parents=True)
  (legacy / run_plan.DONE_NAME).write_text('{}')
  adopted = plan.encoder('cvmim', dataclasses.replace(config, input_table='old/pairs/train-*'))
  assert adopted.directory == str(legacy) and adopted.done()
  # Spelt absolute now, relative then (from the same working directory): adopted too.
  assert plan.encoder('cvmim', dataclasses.replace(
      config, input_table=str(tmp_path / 'old' / 'pairs' / 'train-*'))).done()
  monkeypatch.chdir(tmp_path / 'data')
  assert not plan.encoder('cvmim', dataclasses.replace(
      config, input_table=str(tmp_path / 'old' / 'pairs' / 'train-*'))).done()
