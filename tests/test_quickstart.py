"""The main job end to end on its smoke preset: table shape, result files, per-view gains."""

import dataclasses
import glob
import os

import pytest

from experiments import quickstart
from poem_cvmim.core import run_dirs


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
  # Re-run into the same directory with another encoder schedule: refused before anything
  # is touched (it once scored the old classifiers on the new features), unless replaced.
  longer = dataclasses.replace(quickstart.smoke_config(), cvmim_steps=8)
  with pytest.raises(run_dirs.RunConflictError, match=r'config\.cvmim_steps: 4 -> 8'):
    quickstart.run(longer, str(tmp_path), log=lambda _: None)
  assert os.path.exists(tmp_path / 'cvmim' / 'ckpt-4.index')
