"""Nothing silently wrong, nothing lost: run identity, locks, verified data, one-line errors.

Each test reproduces a case in which an earlier version reused stale results, lost or mixed
data, passed bad data on, or answered with a traceback.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.action import classifier_configs
from poem_cvmim.action import protocols
from poem_cvmim.core import records
from poem_cvmim.core import run_dirs
from poem_cvmim.core import shards
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import features
from poem_cvmim.evaluation import pose_files
from poem_cvmim.evaluation import frame_sources
from tests.testdata import make_fixtures as fx

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SKELETONS = os.path.join(fx.HERE, fx.NTU, 'skeletons')
_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')


def _command(module, *flags, env=None, timeout=300):
  return subprocess.run([sys.executable, '-m', module, *flags], cwd=_ROOT, capture_output=True,
                        text=True, timeout=timeout, env=env or _ENV)


def _error_line(result):
  """The one `error:` line a command printed (and checks it is the only one, status 2)."""
  lines = [l for l in result.stderr.strip().splitlines()
           if not l.startswith(('WARNING', 'I0000', 'E0000', 'W0000'))]
  assert result.returncode == 2, result.stderr[-3000:]
  assert lines and lines[-1].startswith('error: '), result.stderr[-3000:]
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  return lines[-1]


def _copy(source, target):
  shutil.copytree(source, target)
  return str(target)


def _rewrite_shard(path, keep, edit=None):
  """Rewrites a shard with its first `keep` records (each through `edit`)."""
  kept = [r.numpy() for r in tf.data.TFRecordDataset(path).take(keep)]
  with tf.io.TFRecordWriter(path) as writer:
    for raw in kept:
      writer.write(edit(raw) if edit else raw)


def _rehash(directory):
  """Updates a manifest's shard hashes to the files (as if the tampering were a conversion)."""
  path = os.path.join(directory, shards.MANIFEST_NAME)
  with open(path) as f:
    manifest = json.load(f)
  manifest['shards'] = {n: shards.file_sha256(os.path.join(directory, n))
                        for n in manifest['shards']}
  with open(path, 'w') as f:
    json.dump(manifest, f)


# -- 1. run identity: finished runs are reused, runs on other features refused ---------------

@pytest.fixture()
def raw_table(smoke_dir, tmp_path):
  directory = str(tmp_path / 'raw')
  features.write_feature_table(os.path.join(smoke_dir, 'penn_like'), directory,
                               embedders.load_embedder(embedders.RAW), downsample_rate=2,
                               log=lambda _: None)
  return directory


def test_finished_classifier_run_is_reused_and_one_on_other_features_refused(
    smoke_dir, raw_table, tmp_path):
  runs, lines = str(tmp_path / 'runs'), []
  run = lambda **kw: protocols.run_protocol(  # pylint: disable=g-long-lambda
      'raw', raw_table, protocols.SINGLE_SHOT, classifier_configs.PRESETS['smoke'], [0], runs,
      train_views=['front'], log=lines.append, **kw)
  first = run()[0]
  assert first['num_steps'] == first['requested_steps'] == 6
  assert first['features'] == run_dirs.dataset_identity(raw_table)
  again = run()[0]
  assert 'reused the finished run' in lines[-1] and again == first
  # The same path now holds other features: the old run must not score them.
  features.write_feature_table(os.path.join(smoke_dir, 'penn_like'), raw_table,
                               embedders.load_embedder(embedders.RAW), downsample_rate=4,
                               overwrite=True, log=lambda _: None)
  with pytest.raises(run_dirs.RunConflictError, match=r'features\.manifest_sha256: '):
    run()
  replaced = run(overwrite=True)[0]
  assert replaced['features'] == run_dirs.dataset_identity(raw_table) != first['features']
  assert 'reused' not in lines[-1]


def test_more_classifier_steps_continue_the_run_and_record_the_trained_steps(
    raw_table, tmp_path):
  runs, lines = str(tmp_path / 'runs'), []
  for steps in (6, 9):
    config = dataclasses.replace(classifier_configs.PRESETS['smoke'], num_steps=steps)
    result = protocols.run_protocol('raw', raw_table, protocols.SINGLE_SHOT, config, [0], runs,
                                    train_views=['back'], log=lines.append)[0]
    assert result['num_steps'] == steps and 'reused' not in lines[-1]
  with pytest.raises(run_dirs.RunConflictError, match=r'config\.learning_rate: 0\.005 -> 0\.1'):
    protocols.run_protocol('raw', raw_table, protocols.SINGLE_SHOT,
                           dataclasses.replace(config, learning_rate=0.1), [0], runs,
                           train_views=['back'], log=lines.append)


# -- 4. locks: one live process per directory; a killed one's lock is taken over -----------

_HOLD = textwrap.dedent('''
    import sys, time
    from poem_cvmim.core import run_dirs
    run_dirs.DirectoryLock(sys.argv[1]).acquire()
    print('held', flush=True)
    time.sleep(600)
''')


def test_a_directory_held_by_a_live_process_is_refused_and_a_dead_ones_lock_taken_over(
    smoke_dir, tmp_path):
  directory = str(tmp_path / 'run')
  holder = subprocess.Popen([sys.executable, '-c', _HOLD, directory], cwd=_ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    with pytest.raises(run_dirs.DirectoryLockedError, match=f'in use by process {holder.pid}'):
      run_dirs.DirectoryLock(directory).acquire()
    result = _command('poem_cvmim.train', '--smoke', f'--log_dir_path={directory}',
                      f'--input_table={os.path.join(smoke_dir, "pairs", "train-*")}')
    assert f'in use by process {holder.pid}' in _error_line(result)
  finally:
    holder.kill()
    holder.wait()
  with run_dirs.DirectoryLock(directory):  # the killed holder's lock is stale
    assert json.load(open(os.path.join(directory, run_dirs.LOCK_NAME)))['pid'] == os.getpid()
  assert not os.path.exists(os.path.join(directory, run_dirs.LOCK_NAME))


# -- 5. bad data is an error naming where it is -------------------------------------------

def _penn_copy(smoke_dir, tmp_path):
  return _copy(os.path.join(smoke_dir, 'penn_like'), tmp_path / 'penn_like')


def test_nan_keypoints_in_sequence_records_name_the_clip(smoke_dir, tmp_path):
  directory = _penn_copy(smoke_dir, tmp_path)
  shard = os.path.join(directory, 'test-left-00000-of-00001.tfrecord')
  key = records.keypoint_keys_2d('NOSE_TIP')[0]

  def poison(raw):
    example = tf.train.Example.FromString(raw)
    example.features.feature[key].float_list.value[5] = float('nan')
    return example.SerializeToString()

  _rewrite_shard(shard, keep=1000, edit=poison)
  _rehash(directory)
  with pytest.raises(ValueError, match=r'clip .* \(test/left\) holds NaN or Inf keypoints at '
                     r'frame 5'):
    features.write_feature_table(directory, str(tmp_path / 'features'),
                                 embedders.load_embedder(embedders.RAW), log=lambda _: None)
  assert not os.path.exists(tmp_path / 'features')
  with pytest.raises(ValueError, match=r'\(test/left\) holds NaN or Inf keypoints at frame 5'):
    frame_sources.load_multiview_frames(directory, 'test')


def test_a_shard_cut_at_a_record_boundary_is_detected(smoke_dir, tmp_path):
  directory = _penn_copy(smoke_dir, tmp_path)
  shard = os.path.join(directory, 'train-front-00000-of-00001.tfrecord')
  _rewrite_shard(shard, keep=3)
  embedder = embedders.load_embedder(embedders.RAW)
  with pytest.raises(ValueError, match='does not match the SHA-256 in its manifest'):
    features.write_feature_table(directory, str(tmp_path / 'a'), embedder, log=lambda _: None)
  _rehash(directory)  # hashes updated, counts not: still caught
  with pytest.raises(ValueError, match=r'read 3 clips of train/front, but the manifest lists'):
    features.write_feature_table(directory, str(tmp_path / 'b'), embedder, log=lambda _: None)


def test_pose_files_with_nan_or_a_mistyped_first_row_are_refused(tmp_path):
  rows = np.random.default_rng(0).uniform(size=(3, 26))
  path = tmp_path / 'poses.csv'
  text = '\n'.join(','.join(f'{v:.4f}' for v in row) for row in rows)
  path.write_text(text.replace('0.', 'O.', 1))  # a typo in the first row, not a header
  with pytest.raises(ValueError, match=r'poses\.csv:1: not a row of numbers'):
    pose_files.read_keypoints(str(path))
  path.write_text('y0,x0,' + ','.join(f'c{i}' for i in range(24)) + '\n' + text)
  assert pose_files.read_keypoints(str(path)).shape == (3, 13, 2)  # a real header
  rows[1, 4] = np.nan
  np.save(tmp_path / 'poses.npy', rows.reshape(3, 13, 2))
  with pytest.raises(ValueError, match=r'pose 1 \(0-based; 1 in all\) holds NaN'):
    pose_files.read_keypoints(str(tmp_path / 'poses.npy'))


# -- 6. one-line errors ----------------------------------------------------------------------

def test_a_truncated_training_shard_is_named(smoke_dir, tmp_path):
  source = sorted(n for n in os.listdir(os.path.join(smoke_dir, 'pairs'))
                  if n.endswith('.tfrecord'))[0]
  shutil.copy(os.path.join(smoke_dir, 'pairs', source), tmp_path / source)
  size = os.path.getsize(tmp_path / source)
  with open(tmp_path / source, 'r+b') as f:
    f.truncate(size * 2 // 3)
  result = _command('poem_cvmim.train', '--smoke', '--num_iterations=40',
                    f'--log_dir_path={tmp_path / "run"}',
                    f'--input_table={tmp_path / source}')
  assert f'{tmp_path / source} is truncated or corrupt' in _error_line(result)


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous(prepared, tmp_path):
  run = _copy(os.path.join(prepared, 'run'), tmp_path / 'run')
  data = [n for n in os.listdir(run) if n.startswith('ckpt-4.data')][0]
  with open(os.path.join(run, data), 'r+b') as f:
    f.truncate(100)
  result = _command('poem_cvmim.extract_features', f'--sequence_dir={prepared}/penn_like',
                    f'--embedder={run}', f'--output_dir={tmp_path / "features"}')
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'warning: checkpoint {os.path.join(run, "ckpt-4")} cannot be read' in result.stderr
  result = _command('poem_cvmim.train', '--smoke', f'--input_table={prepared}/pairs/train-*',
                    f'--log_dir_path={run}', '--num_iterations=6')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'at step 2' in result.stdout + result.stderr
  assert json.loads(result.stdout[result.stdout.index('{'):])['step'] == 6


def _a_file(tmp_path):
  path = tmp_path / 'a_file'
  path.write_text('not a directory')
  return str(path)


# Each entry point with an output under a regular file (unwritable for any user, root too)
# and with an output that is itself a file.
_OUTPUTS = {
    'poem_cvmim.train': lambda s, out: ['--smoke', f'--log_dir_path={out}',
                                        f'--input_table={s}/pairs/train-*'],
    'poem_cvmim.extract_features': lambda s, out: [f'--sequence_dir={s}/penn_like',
                                                   '--embedder=raw', f'--output_dir={out}'],
    'poem_cvmim.train_action': lambda s, out: [f'--feature_dir={s}/features_raw',
                                               '--preset=smoke', f'--output_dir={out}'],
    'poem_cvmim.export': lambda s, out: [f'--log_dir_path={s}/run', f'--export_dir={out}'],
    'experiments.quickstart': lambda s, out: ['--smoke', f'--output_dir={out}'],
    'data_prep.synthetic': lambda s, out: ['--smoke', f'--output_dir={out}'],
    'data_prep.ntu_rgbd': lambda s, out: [f'--input_dir={_SKELETONS}', f'--output_dir={out}'],
}


@pytest.fixture(scope='module')
def prepared(smoke_dir, tmp_path_factory):
  """The smoke set with a raw feature table and a trained run, for the entry points."""
  directory = tmp_path_factory.mktemp('prepared')
  for name in ('pairs', 'penn_like'):
    os.symlink(os.path.join(smoke_dir, name), directory / name)
  features.write_feature_table(os.path.join(smoke_dir, 'penn_like'),
                               str(directory / 'features_raw'),
                               embedders.load_embedder(embedders.RAW), downsample_rate=2,
                               log=lambda _: None)
  result = _command('poem_cvmim.train', '--smoke', f'--log_dir_path={directory / "run"}',
                    f'--input_table={directory}/pairs/train-*')
  assert result.returncode == 0, result.stderr[-2000:]
  return str(directory)


def _driver(commands):
  """Runs [(module, argv, env)] in one process (tests/command_driver.py); their results."""
  payload = json.dumps([{'module': m, 'argv': a, 'env': e} for m, a, e in commands])
  result = subprocess.run([sys.executable, '-m', 'tests.command_driver'], cwd=_ROOT,
                          input=payload, capture_output=True, text=True, timeout=900, env=_ENV)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.split('\nRESULTS ', 1)[1])


def _one_error_line(outcome):
  lines = [l for l in outcome['stderr'].strip().splitlines() if not l.startswith('warning')]
  if outcome['code'] != 2 or len(lines) != 1 or not lines[0].startswith('error: '):
    return None
  return lines[0]


def test_every_entry_point_answers_bad_input_with_one_line(prepared, tmp_path):
  """Each case: exit status 2 and exactly one line `error: ...` holding the expected text."""
  blocker = _a_file(tmp_path)
  np.save(tmp_path / 'x.npy', np.tile(np.linspace(100, 900, 26).reshape(1, 13, 2), (2, 1, 1)))
  cases = []  # (label, module, argv, env, expected text)
  for module in sorted(_OUTPUTS):  # output under a regular file: unwritable, even for root
    cases.append((f'{module} output under a file', module,
                  _OUTPUTS[module](prepared, os.path.join(blocker, 'out')), {}, blocker))
  for module in ('poem_cvmim.train', 'poem_cvmim.extract_features'):
    cases.append((f'{module} output is a file', module, _OUTPUTS[module](prepared, blocker),
                  {}, blocker))
  train = ['--smoke', f'--log_dir_path={tmp_path}/run']
  cases += [
      ('input_table is a directory', 'poem_cvmim.train',
       train + [f'--input_table={prepared}/pairs'], {}, 'matches the directory'),
      ('unknown strategy', 'poem_cvmim.train',
       train + [f'--input_table={prepared}/pairs/*', '--strategy=everywhere'], {},
       'everywhere'),
      ('TF_CONFIG not JSON', 'poem_cvmim.train', train + [f'--input_table={prepared}/pairs/*'],
       {'TF_CONFIG': '{"cluster": '}, 'TF_CONFIG is not valid JSON'),
      ('flag that does not parse', 'poem_cvmim.train',
       train + [f'--input_table={prepared}/pairs/*', '--num_iterations=many'], {}, 'many'),
      ('required flag missing', 'poem_cvmim.train', ['--smoke'], {}, '--log_dir_path'),
      ('missing SavedModel', 'poem_cvmim.embed',
       [f'--saved_model={tmp_path}/none', f'--input={tmp_path}/x.npy',
        f'--output={tmp_path}/y.npy'], {}, f'{tmp_path}/none'),
      ('sequence directory as a feature table', 'poem_cvmim.train_action',
       [f'--feature_dir={prepared}/penn_like', f'--output_dir={tmp_path}/runs'], {},
       'is not a feature table'),
      ('pair records as clips', 'poem_cvmim.extract_features',
       [f'--sequence_dir={prepared}/pairs', '--embedder=raw', f'--output_dir={tmp_path}/f'], {},
       'not sequence records (a pairs/ directory?)'),
      ('fraction above 1', 'poem_cvmim.train_action',
       [f'--feature_dir={prepared}/features_raw', '--preset=smoke', '--protocol=limited',
        '--fractions=2', f'--output_dir={tmp_path}/runs2'], {},
       "fraction '2' is outside (0, 1]"),
      ('a .npy given as --npz_3d', 'data_prep.h36m',
       [f'--output_dir={tmp_path}/h36m', f'--npz_3d={tmp_path}/x.npy'], {},
       'not an .npz archive'),
      ('run directory that is not one', 'poem_cvmim.export',
       [f'--log_dir_path={prepared}/penn_like', f'--export_dir={tmp_path}/saved'], {},
       'not a training directory'),
  ]
  outcomes = _driver([(module, argv, env) for _, module, argv, env, _ in cases])
  wrong = []
  for (label, _, _, _, expected), outcome in zip(cases, outcomes):
    line = _one_error_line(outcome)
    print(f'{label}: {line or outcome}')
    if line is None or expected not in line:
      wrong.append(f'{label}: status {outcome["code"]}, stderr {outcome["stderr"][-800:]!r}')
  assert not wrong, '\n'.join(wrong)



# -- 10. --help exits 0 and lists every flag -------------------------------------------------

def test_help_exits_zero_and_lists_every_flag():
  result = _command('data_prep.penn_action', '--help')  # a real process: __main__'s usage
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'Converts Penn Action' in result.stdout
  expected = {'data_prep.penn_action': ['--num_workers', '--strict', '--overwrite',
                                        '--input_dir'],
              'poem_cvmim.train': ['--log_dir_path', '--input_table', '--num_iterations'],
              'experiments.quickstart': ['--output_dir', '--overwrite', '--encoder_seed']}
  outcomes = [('data_prep.penn_action', {'code': 0, 'stdout': result.stdout})] + list(zip(
      list(expected)[1:], _driver([(m, ['--help'], {}) for m in list(expected)[1:]])))
  for module, outcome in outcomes:
    assert outcome['code'] == 0, (module, outcome)
    for flag in expected[module]:
      assert f'  {flag}:' in outcome['stdout'], (module, outcome['stdout'][-2000:])
    assert '--logtostderr' not in outcome['stdout']


# -- 8. cadence: checkpoints and summaries at multiples of their own intervals ---------------

def test_checkpoints_and_summaries_fall_on_multiples_of_their_intervals(tmp_path):
  from poem_cvmim.core import training_loop  # pylint: disable=g-import-not-at-top
  step = tf.Variable(0, dtype=tf.int64)
  saved, written = [], []

  class Manager:
    def save(self, checkpoint_number):
      saved.append(checkpoint_number)

  def run(num_steps):
    step.assign_add(tf.cast(num_steps, tf.int64))
    return {'loss': tf.constant(1.0)}

  controller = training_loop.Controller(
      run, lambda: int(step.numpy()), training_loop.Cadence(33, checkpoint_interval=10,
                                                            summary_interval=5),
      checkpoint_manager=Manager(), summary_dir=str(tmp_path), verbose=False)
  controller._summarize = lambda s, values, rate: written.append(s)  # pylint: disable=protected-access
  controller.train()
  assert saved == [10, 20, 30, 33]  # once saved 5, 15, 25, 30
  assert written == [5, 10, 15, 20, 25, 30, 33]


def test_training_checks_its_shards_against_the_manifest(smoke_dir, tmp_path):
  from poem_cvmim.representation import configs  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  pairs = _copy(os.path.join(smoke_dir, 'pairs'), tmp_path / 'pairs')
  shard = sorted(n for n in os.listdir(pairs) if n.endswith('.tfrecord'))[0]
  _rewrite_shard(os.path.join(pairs, shard), keep=3)  # cut at a record boundary
  trainer = trainer_lib.Trainer(configs.smoke_config(input_table=os.path.join(pairs, 'train-*'),
                                              output_dir=str(tmp_path / 'run')),
                                log=lambda _: None, verbose=False)
  with pytest.raises(ValueError, match=f'{shard} does not match the SHA-256'):
    trainer.train(verify_hashes=True)
  shutil.copy(os.path.join(pairs, shard), os.path.join(pairs, 'train-00099-of-00099.tfrecord'))
  with pytest.raises(ValueError, match='train-00099-of-00099.tfrecord is not listed in'):
    trainer.train()


def test_training_on_data_that_changed_under_the_run_is_refused(smoke_dir, tmp_path):
  from poem_cvmim.representation import configs  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  pairs = _copy(os.path.join(smoke_dir, 'pairs'), tmp_path / 'pairs')
  config = configs.smoke_config(input_table=os.path.join(pairs, 'train-*'),
                         output_dir=str(tmp_path / 'run'), num_steps=2)
  trainer_lib.Trainer(config, log=lambda _: None, verbose=False).train()
  shard = sorted(n for n in os.listdir(pairs) if n.endswith('.tfrecord'))[0]
  _rewrite_shard(os.path.join(pairs, shard), keep=3)
  _rehash(pairs)  # converted again: another manifest
  longer = dataclasses.replace(config, num_steps=4)
  with pytest.raises(run_dirs.RunConflictError,
                     match=r'data\[0\]\.manifest_sha256: .*Use another --log_dir_path'):
    trainer_lib.Trainer(longer, log=lambda _: None, verbose=False).train()


def test_an_encoders_initial_weights_depend_only_on_its_own_seed(smoke_dir, tmp_path):
  """A table plan trains encoders between classifier runs, which seed Keras's global random
  state with their own seeds: the encoder built after them must be the one its seed gives."""
  import keras  # pylint: disable=g-import-not-at-top
  import random  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import configs  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import trainer  # pylint: disable=g-import-not-at-top
  config = configs.smoke_config(input_table=os.path.join(smoke_dir, 'pairs', 'train-*'),
                                seed=3)
  weights = []
  for history in (11, 12):  # what ran before: another run's seeding and draws
    keras.utils.set_random_seed(history)
    random.random()
    built = trainer.Trainer(dataclasses.replace(config, output_dir=str(tmp_path / str(history))),
                            log=lambda _: None, verbose=False)
    weights.append([w.numpy() for w in built.algorithm.encoder.weights])
  assert len(weights[0]) > 4
  for first, second in zip(*weights):
    np.testing.assert_array_equal(first, second)
