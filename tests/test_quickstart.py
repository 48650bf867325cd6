"""The main job end to end on its smoke preset: table shape, result files, per-view gains."""

import glob
import os

from experiments import quickstart


def test_quickstart_smoke_writes_the_two_row_table(tmp_path):
  outcome = quickstart.run(quickstart.smoke_config(), str(tmp_path), log=lambda _: None)
  table = outcome['table']
  assert list(table.index) == [quickstart.CVMIM, quickstart.RAW]
  assert list(table.columns) == ['front', 'back', 'left', 'right', 'Average']
  assert all('±' in cell for cell in table['Average'])  # two seeds: mean ± std
  assert len(glob.glob(str(tmp_path / 'runs' / '**' / 'result.json'), recursive=True)) == 16
  for suffix in ('md', 'csv', 'tex'):
    assert os.path.exists(tmp_path / f'single_shot_table.{suffix}')
  gains = quickstart.view_gains(outcome['results'])
  assert list(gains) == ['front', 'back', 'left', 'right']
