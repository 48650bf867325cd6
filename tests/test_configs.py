"""One source of truth for configuration: flag defaults, strict run configs, refused restarts."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import pytest

from experiments import run_plan
from poem_cvmim.representation import config_files
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


def test_a_config_written_before_the_option_groups_reads_as_written(tmp_path):
  """Files of earlier versions: no option groups at all (before Pr-VIPE, temporal negatives
  and MCSS existed), or their fields flat among the algorithm's own; no `added` fields."""
  config = configs.smoke_config(output_dir=str(tmp_path))
  restore.write_config(str(tmp_path), config)
  data = json.loads((tmp_path / restore.CONFIG_NAME).read_text())
  assert set(configs.OPTION_GROUPS) <= set(data['algorithm'])
  oldest = json.loads(json.dumps(data))
  for group in configs.OPTION_GROUPS:
    del oldest['algorithm'][group]
  del oldest['instants_per_clip'], oldest['init_from']
  (tmp_path / restore.CONFIG_NAME).write_text(json.dumps(oldest))
  assert restore.read_config(str(tmp_path)) == config
  # Flat, as files held the groups' fields before they were grouped, with other values.
  flat = config_files.flat_dict(configs.with_fields(config, {}, configs.replace_algorithm(
      config.algorithm, negative_gap=12, fraction_with_3d=0.5, triplet_loss_margin=0.3)))
  assert flat['algorithm']['negative_gap'] == 12 and 'mining' not in flat['algorithm']
  (tmp_path / restore.CONFIG_NAME).write_text(json.dumps(flat))
  read = restore.read_config(str(tmp_path)).algorithm
  assert (read.mining.negative_gap, read.mcss.fraction_with_3d,
          read.pr_vipe.triplet_loss_margin) == (12, 0.5, 0.3)
  # A group that is present must be complete.
  partial = json.loads(json.dumps(data))
  del partial['algorithm']['mining']['ignore_gap']
  (tmp_path / restore.CONFIG_NAME).write_text(json.dumps(partial))
  with pytest.raises(ValueError, match=r"mining has unknown keys \[\] and lacks keys \['ignore_gap'\]"):
    restore.read_config(str(tmp_path))


def test_option_fields_are_named_by_themselves():
  algorithm = configs.algorithm_config(algorithm='MCSS', fusion='CAT', negative_gap=6,
                                       mcss_margin=0.3, num_embedding_samples=4)
  assert (algorithm.fusion, algorithm.mining.negative_gap, algorithm.mcss.mcss_margin,
          algorithm.pr_vipe.num_embedding_samples) == ('CAT', 6, 0.3, 4)
  assert configs.replace_algorithm(algorithm, ignore_gap=2).mining == dataclasses.replace(
      algorithm.mining, ignore_gap=2)
  with pytest.raises(TypeError):
    configs.algorithm_config(no_such_field=1)
  with pytest.raises(ValueError, match='ignore_gap'):
    configs.algorithm_config(negative_gap=4, ignore_gap=6)
  # Every field of every group is reachable by its own name, and names are unique.
  names = [f.name for cls in configs.OPTION_GROUPS.values() for f in dataclasses.fields(cls)]
  own = {f.name for f in dataclasses.fields(configs.AlgorithmConfig)}
  assert len(names) == len(set(names)) and not set(names) & own


def test_the_run_plan_key_of_an_encoder_did_not_change_with_the_groups():
  """flat_dict is the layout config files had before the groups: the paper tables' encoder
  directories (named by a hash of it) stay theirs."""
  flat = config_files.flat_dict(configs.synthetic_schedule())
  # Added later; keyed when they matter.
  unkeyed = {'alignment_loss_weight', 'mine_on_means', 'gaussian_logvar'}
  assert set(flat['algorithm']) == (
      ({f.name for f in dataclasses.fields(configs.AlgorithmConfig)} - set(configs.OPTION_GROUPS)
       | {f.name for cls in configs.OPTION_GROUPS.values() for f in dataclasses.fields(cls)})
      - unkeyed)
  # The hashes the encoders of the synthetic preset were stored under before the field existed.
  key = lambda c: run_plan.key_hash({'kind': 'encoder', 'config': config_files.flat_dict(
      dataclasses.replace(c, output_dir=''))})
  assert key(configs.synthetic_schedule()) == '21945ab406'
  # Pr-VIPE mining on the means (as this port did then) keeps its key; the original's mining
  # (the default now) trains another encoder.
  assert key(configs.synthetic_schedule(algorithm=configs.pr_vipe(mine_on_means=True))) == (
      '6f209ba894')
  assert key(configs.synthetic_schedule(algorithm=configs.pr_vipe())) != '6f209ba894'
  aligned = configs.synthetic_schedule(algorithm=configs.algorithm_config(
      alignment_loss_weight=1.0))
  assert config_files.flat_dict(aligned)['algorithm']['alignment_loss_weight'] == 1.0
  assert key(aligned) != '21945ab406'


def test_the_vae_s_log_variance_is_keyed_and_old_files_read_as_they_were_trained():
  """VAEs made before SOFT existed keep their run-plan directory under TANH and read as TANH
  from their config.json; a new VAE (SOFT) is another encoder; point embedders never key it."""
  key = lambda c: run_plan.key_hash({'kind': 'encoder', 'config': config_files.flat_dict(c)})
  vae = lambda **f: configs.synthetic_schedule(algorithm=configs.beta_vae(1.0, **f))
  # The key the VAE had before the field existed (computed at commit ab703d4).
  assert key(vae(gaussian_logvar=configs.GAUSSIAN_LOGVAR_TANH)) == '52b568d188'
  assert key(vae()) != '52b568d188'
  old = config_files.to_dict(vae(gaussian_logvar=configs.GAUSSIAN_LOGVAR_TANH))
  del old['algorithm']['gaussian_logvar']
  assert config_files.from_dict(old).algorithm.gaussian_logvar == configs.GAUSSIAN_LOGVAR_TANH
  point = config_files.to_dict(configs.synthetic_schedule())
  del point['algorithm']['gaussian_logvar']
  assert config_files.from_dict(point).algorithm.gaussian_logvar == configs.GAUSSIAN_LOGVAR_SOFT
  assert 'gaussian_logvar' not in config_files.flat_dict(configs.synthetic_schedule())['algorithm']


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


def test_a_pr_vipe_run_written_before_the_mining_choice_reads_as_mining_on_the_means(tmp_path):
  """Pr-VIPE runs written before `mine_on_means` existed mined on the means; other runs'
  files read with the default."""
  for algorithm, expected in ((configs.pr_vipe(), True), (configs.AlgorithmConfig(), False)):
    data = config_files.to_dict(configs.smoke_config(algorithm=algorithm))
    del data['algorithm']['pr_vipe']['mine_on_means']
    assert config_files.from_dict(data).algorithm.pr_vipe.mine_on_means is expected
    flat = config_files.flat_dict(configs.smoke_config(algorithm=algorithm))
    flat['algorithm'].pop('mine_on_means', None)  # the layout before the groups
    assert config_files.from_dict(flat).algorithm.pr_vipe.mine_on_means is expected
  data = config_files.to_dict(configs.smoke_config(algorithm=configs.pr_vipe(mine_on_means=False)))
  assert config_files.from_dict(data).algorithm.pr_vipe.mine_on_means is False
