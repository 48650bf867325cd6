"""One source of truth for configuration: flag defaults, strict run configs, refused restarts."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from poem_cvmim.representation import configs
from poem_cvmim.representation import restore
from poem_cvmim.representation import trainer as trainer_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_QUIET = lambda _: None


_FLAG_DEFAULTS = textwrap.dedent('''
    from absl import flags
    from poem_cvmim import train
    from poem_cvmim.representation import configs
    train.define_flags()
    flags.FLAGS(['train'])
    for name, (path, _) in configs.FLAG_FIELDS.items():
      default = configs.field_default(path)
      assert flags.FLAGS[name].value == (default if default != '' else None), name
    assert train.config_from_flags(flags.FLAGS) == configs.TrainConfig()
    flags.FLAGS(['train', '--smoke', '--batch_size=32'])
    given = train.config_from_flags(flags.FLAGS)
    assert given.batch_size == 32 and given.num_steps == configs.smoke_config().num_steps, given
    # --algorithm_type=PR_VIPE starts from Pr-VIPE's own defaults; given flags still win.
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['train', '--algorithm_type=PR_VIPE'])
    assert train.config_from_flags(flags.FLAGS).algorithm == configs.pr_vipe()
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['train', '--algorithm_type=PR_VIPE', '--pose_embedding_dim=8',
                 '--num_embedding_samples=5'])
    assert train.config_from_flags(flags.FLAGS).algorithm == configs.pr_vipe(
        pose_embedding_dim=8, num_embedding_samples=5)
    # --general: the longer encoder preset; given flags still win.
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['train', '--general', '--num_iterations=500'])
    assert train.config_from_flags(flags.FLAGS) == configs.general(num_steps=500)
    assert configs.general().num_steps == 20000 and configs.general().batch_size == 128
    print('OK')
''')


def test_every_flag_takes_its_config_default_and_given_flags_beat_the_smoke_preset():
  result = subprocess.run([sys.executable, '-c', _FLAG_DEFAULTS], cwd=_ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0 and 'OK' in result.stdout, result.stderr[-2000:]


def test_a_config_written_before_pr_vipe_fields_existed_reads_with_their_defaults(tmp_path):
  config = configs.smoke_config(output_dir=str(tmp_path))
  restore.write_config(str(tmp_path), config)
  data = json.loads((tmp_path / restore.CONFIG_NAME).read_text())
  for name in configs.ADDED_ALGORITHM_FIELDS:
    del data['algorithm'][name]
  (tmp_path / restore.CONFIG_NAME).write_text(json.dumps(data))
  assert restore.read_config(str(tmp_path)) == config


def test_a_run_config_is_read_strictly(tmp_path):
  config = configs.smoke_config(output_dir=str(tmp_path))
  restore.write_config(str(tmp_path), config)
  assert restore.read_config(str(tmp_path)) == config
  data = json.loads((tmp_path / restore.CONFIG_NAME).read_text())
  data['learning_rate_schedule'] = 'cosine'
  del data['algorithm']['fusion']
  (tmp_path / restore.CONFIG_NAME).write_text(json.dumps(data))
  with pytest.raises(ValueError, match=r"unknown keys \['learning_rate_schedule'\]"):
    restore.read_config(str(tmp_path))
  del data['learning_rate_schedule']
  (tmp_path / restore.CONFIG_NAME).write_text(json.dumps(data))
  with pytest.raises(ValueError, match=r"lacks keys \['fusion'\]"):
    restore.read_config(str(tmp_path))


def test_restart_with_other_model_flags_is_refused_before_anything_is_written(smoke_dir,
                                                                              tmp_path):
  pairs = os.path.join(smoke_dir, 'pairs', 'train-*')
  first = configs.smoke_config(input_table=pairs, output_dir=str(tmp_path), num_steps=2)
  trainer_lib.Trainer(first, log=_QUIET, verbose=False).train()
  written = (tmp_path / restore.CONFIG_NAME).read_text()
  result = subprocess.run(
      [sys.executable, '-m', 'poem_cvmim.train', f'--input_table={pairs}',
       f'--log_dir_path={tmp_path}', '--smoke', '--pose_embedding_dim=16',
       '--view_embedding_dim=16', '--learning_rate=0.5', '--num_iterations=4'],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and 'refusing to continue' in last, result.stderr[-2000:]
  for field in ('algorithm.pose_embedding_dim: 32 -> 16', 'algorithm.learning_rate: 0.02 -> 0.5'):
    assert field in last
  assert (tmp_path / restore.CONFIG_NAME).read_text() == written
  assert not (tmp_path / 'flags.json').exists()
  # A schedule change continues the run.
  longer = configs.smoke_config(input_table=pairs, output_dir=str(tmp_path), num_steps=4)
  resumed = trainer_lib.Trainer(longer, log=_QUIET, verbose=False)
  resumed.train()
  assert resumed.step == 4
