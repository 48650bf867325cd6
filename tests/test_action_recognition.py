"""Action recognition: classifiers, metrics, feature tables, protocols, tables and errors."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.action import classifier_configs
from poem_cvmim.action import classifiers
from poem_cvmim.action import classify
from poem_cvmim.core import errors
from poem_cvmim.core import feature_tables
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import features
from poem_cvmim.evaluation import tables
from poem_cvmim.core import keypoints
from poem_cvmim.action import protocols
from poem_cvmim.core import records
from poem_cvmim.core import shards

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _count(variables):
  return sum(int(np.prod(v.shape)) for v in variables)


def test_convnet_parameter_count():
  model = classifiers.get_temporal_classifier('CONVNET', (332, 32), 14)
  assert _count(model.weights) == 306_894
  assert _count(model.trainable_weights) == 305_998


@pytest.mark.parametrize('kind', classifier_configs.CLASSIFIER_TYPES)
def test_classifiers_map_sequences_to_logits(kind):
  width = 26 if kind in ('STGCN', 'HCN') else 32  # skeleton models: 13 joints x (y, x)
  model = classifiers.get_temporal_classifier(kind, (83, width), 7)
  logits = model(tf.random.normal([3, 83, width]), training=False)
  assert logits.shape == (3, 7)
  assert not np.allclose(logits.numpy().sum(-1), 1.0)  # logits, not probabilities
  if kind == 'RESTCN':
    assert model.losses  # L1 on kernels


def test_unknown_classifier_lists_valid_ones():
  with pytest.raises(ValueError, match='CONVNET, RESNET, RESTCN'):
    classifiers.get_temporal_classifier('LSTM', (10, 4), 3)


def test_top_k_accuracy_against_a_loop():
  rng = np.random.default_rng(0)
  logits, labels = rng.normal(size=(50, 9)), rng.integers(0, 9, 50)
  for k in (1, 5):
    expected = np.mean([labels[i] in sorted(range(9), key=lambda c: -logits[i, c])[:k]
                        for i in range(50)])
    assert classifiers.top_k_accuracy(logits, labels, k) == pytest.approx(expected)


def test_raw_features_are_the_normalised_keypoints(smoke_dir, raw_table):
  manifest = shards.read_manifest(raw_table)
  assert manifest['feature_dim'] == 26 and manifest['sequence_length'] == 80
  assert manifest['splits']['test']['views'] == {'back': 8, 'front': 8, 'left': 8, 'right': 8}
  table = feature_tables.load_feature_set(raw_table, 'test', ['left'])
  files = sorted(glob.glob(shards.shard_pattern(os.path.join(smoke_dir, 'penn_like'), 'test',
                                                'left')))
  first = records.parse_sequence_example(next(iter(tf.data.TFRecordDataset(files))), 160, 4)
  pixels = first['keypoints_2d'].numpy() * first['image_sizes'].numpy()[:, None, :]
  normalized, _, _ = keypoints.get_profile('LEGACY_2DCOCO13').normalize(pixels[::2])
  np.testing.assert_allclose(table.features[0], normalized.reshape(80, 26), rtol=1e-5,
                             atol=1e-6)
  assert table.labels[0] == np.argmax(first['class_targets'].numpy())
  assert set(table.views) == {'left'}


def test_feature_table_errors(smoke_dir, raw_table, tmp_path):
  with pytest.raises(ValueError, match='width 26, but the classifier expects 32'):
    feature_tables.load_feature_set(raw_table, 'train', feature_dim=32)
  with pytest.raises(ValueError, match=r"Unknown view\(s\) \['top'\].*'front'"):
    feature_tables.load_feature_set(raw_table, 'train', ['top'])
  with pytest.raises(ValueError, match='sequences of 160 frames, but num_frames is 300'):
    features.write_feature_table(os.path.join(smoke_dir, 'penn_like'), str(tmp_path / 'x'),
                                 embedders.load_embedder(embedders.RAW), num_frames=300)
  with pytest.raises(ValueError, match='empty'):
    empty = feature_tables.load_feature_set(raw_table, 'train').select(np.zeros(64, bool))
    classify.train_classifier(classifier_configs.PRESETS['smoke'], empty, 4)
  with pytest.raises(ValueError, match='neither'):
    embedders.load_embedder(str(tmp_path))


def test_single_shot_protocol_results_and_table(raw_table, tmp_path):
  results = protocols.run_protocol('Raw', raw_table, protocols.SINGLE_SHOT,
                                   classifier_configs.PRESETS['smoke'], [0, 1], str(tmp_path),
                                   train_views=['front', 'left'], log=lambda _: None)
  assert len(results) == 4
  for result in results:
    assert result['num_train_clips'] == 16  # 2 subjects x 4 classes x 2 clips, one view
    assert set(result['per_view']) == {'back', 'front', 'left', 'right'}
    assert result['all']['num_clips'] == 32
    assert 0.0 <= result['all']['top1'] <= result['all']['top5'] <= 1.0
  table = tables.single_shot_table(tables.load_results(str(tmp_path)))
  assert list(table.columns) == ['front', 'left', 'Average']
  assert '±' in table.loc['Raw', 'Average']
  front = [r['all']['top1'] for r in results if r['train_view'] == 'front']
  assert table.loc['Raw', 'front'] == (f'{100 * np.mean(front):.1f} ± {100 * np.std(front):.1f}')
  markdown = tables.write_table(table, str(tmp_path / 'table'))
  assert markdown.splitlines()[0] == '|  | front | left | Average |'
  assert os.path.exists(tmp_path / 'table.csv') and os.path.exists(tmp_path / 'table.tex')
  with pytest.raises(ValueError, match=r"Unknown training view\(s\) \['top'\]"):
    protocols.run_protocol('Raw', raw_table, protocols.SINGLE_SHOT,
                           classifier_configs.PRESETS['smoke'],
                           [0], str(tmp_path), train_views=['top'])
  run_dir = os.path.dirname(glob.glob(str(tmp_path / 'Raw' / '**' / 'result.json'),
                                      recursive=True)[0])
  again = protocols.evaluate_run(run_dir, raw_table)
  with open(os.path.join(run_dir, 'result.json')) as f:
    assert again['all'] == json.load(f)['all']


def test_limited_supervision_runs_three_fractions(raw_table, tmp_path):
  results = protocols.run_protocol('Raw', raw_table, protocols.LIMITED,
                                   classifier_configs.PRESETS['smoke'], [0], str(tmp_path),
                                   fractions=[0.25, 0.5, 1.0], log=lambda _: None)
  assert [r['num_train_clips'] for r in results] == [16, 32, 64]
  assert len(glob.glob(str(tmp_path / '**' / 'result.json'), recursive=True)) == 3
  table = tables.fraction_table(results)
  assert list(table.columns) == ['25%', '50%', '100%']


def test_sample_fraction_keeps_every_class():
  data = feature_tables.FeatureSet(np.zeros((40, 2, 3)), np.repeat(np.arange(4), 10),
                             np.array(['v'] * 40), np.array(['s'] * 40))
  subset = protocols.sample_fraction(data, 0.05, seed=3)
  assert list(np.bincount(subset.labels)) == [1, 1, 1, 1]
  assert list(np.bincount(protocols.sample_fraction(data, 0.5, 3).labels)) == [5] * 4


def test_classifier_resumes_from_its_checkpoint(raw_table, tmp_path):
  data = feature_tables.load_feature_set(raw_table, 'train', ['front'])
  config = classifier_configs.ClassifierConfig(batch_size=8, num_steps=3, steps_per_loop=3,
                                     checkpoint_interval=3)
  classify.train_classifier(config, data, 4, output_dir=str(tmp_path))
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith('ckpt-3')
  longer = classifier_configs.ClassifierConfig(batch_size=8, num_steps=6, steps_per_loop=3,
                                     checkpoint_interval=3)
  classify.train_classifier(longer, data, 4, output_dir=str(tmp_path))
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith('ckpt-6')


def test_extract_and_train_commands(smoke_dir, tmp_path):
  table = tmp_path / 'raw'
  result = subprocess.run(
      [sys.executable, '-m', 'poem_cvmim.extract_features',
       f'--sequence_dir={os.path.join(smoke_dir, "penn_like")}', '--embedder=raw',
       f'--output_dir={table}', '--downsample_rate=2'],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  result = subprocess.run(
      [sys.executable, '-m', 'poem_cvmim.train_action', f'--feature_dir={table}',
       '--preset=smoke', '--seeds=0', '--train_views=front,nowhere',
       f'--output_dir={tmp_path / "runs"}'],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert "Unknown training view(s) ['nowhere']; available views: ['front', 'back', 'left', " \
         "'right']" in result.stderr.strip().splitlines()[-1]


def _random_features(seed, clips=48, frames=12, dim=6, classes=4):
  rng = np.random.default_rng(seed)
  labels = np.arange(clips) % classes
  features = rng.normal(size=(clips, frames, dim)) + labels[:, None, None] * 0.3
  return feature_tables.FeatureSet(features.astype(np.float32), labels,
                                   np.array(['v'] * clips), np.array(['s'] * clips))


def test_runs_of_one_shape_share_a_traced_model_and_train_as_fresh_ones(tmp_path):
  """A run in the pooled model (after a run of another seed left its weights, optimizer
  state and dropout seeds in it) ends where a freshly built model ends, traces nothing new,
  and leaves the earlier run's classifier untouched."""
  train, test = _random_features(0), _random_features(1)
  config = classifier_configs.ClassifierConfig(batch_size=8, num_steps=12, steps_per_loop=4,
                                     checkpoint_interval=12)
  pool = classify.ClassifierPool()
  earlier = classify.train_classifier(config, train, 4, seed=1, pool=pool)
  earlier_logits = classify.predict(earlier, test.features)
  traces = len(pool.get(config, train, 4).traces)
  pooled = classify.train_classifier(config, train, 4, seed=0, pool=pool,
                                     output_dir=str(tmp_path / 'pooled'))
  assert len(pool.get(config, train, 4).traces) == traces
  fresh = classify.train_classifier(config, train, 4, seed=0,
                                    output_dir=str(tmp_path / 'fresh'))
  np.testing.assert_allclose(classify.predict(pooled, test.features),
                             classify.predict(fresh, test.features), rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(classify.predict(earlier, test.features), earlier_logits)
  assert not np.allclose(earlier_logits, classify.predict(fresh, test.features), atol=1e-3)
  # The checkpoints hold the same run too: re-evaluation restores what training returned.
  for name, trained in (('pooled', pooled), ('fresh', fresh)):
    restored = classify.restore_classifier(str(tmp_path / name), 'CONVNET', (12, 6), 4)
    np.testing.assert_allclose(classify.predict(restored, test.features),
                               classify.predict(trained, test.features), rtol=1e-5, atol=1e-6)


def test_the_classifier_input_is_not_autotuned_and_keeps_its_order():
  """tf.data's tuner stole CPU from short runs on two cores (classify.fixed_pipeline_options);
  without it the batches are those the seed orders, as before."""
  train = _random_features(0)
  mean, std = np.zeros(6, np.float32), np.ones(6, np.float32)
  dataset = classify._dataset(train, mean, std, 4, seed=3)
  assert dataset.options().autotune.enabled is False
  tuned = tf.data.Dataset.from_tensor_slices((train.features, train.labels)).shuffle(
      len(train), seed=3, reshuffle_each_iteration=True).repeat().batch(4, drop_remainder=True)
  for (x, y), (x_tuned, y_tuned) in zip(dataset.take(6), tuned.take(6)):
    np.testing.assert_array_equal(y, y_tuned)
    np.testing.assert_array_equal(x, x_tuned)


def test_train_action_settings_without_parsing_flags():
  from poem_cvmim import train_action  # pylint: disable=g-import-not-at-top
  config = train_action.classifier_config('synthetic', 'own', {'classifier': 'HCN',
                                                               'num_steps': 7})
  assert (config.classifier, config.num_steps, config.optimizer, config.batch_size) == (
      'HCN', 7, classifier_configs.ADAM, 64)  # HCN's own recipe, then the overrides
  shared = train_action.classifier_config('synthetic', 'shared', {'classifier': 'HCN'})
  assert (shared.optimizer, shared.batch_size) == (classifier_configs.ADAM_EMA, 32)
  with pytest.raises(ValueError, match='Unknown preset'):
    train_action.classifier_config('huge')
  assert train_action.run_name(None, 'out/features/cvmim/') == 'cvmim'
  with pytest.raises(ValueError, match='one path component'):
    train_action.run_name('a/b', 'x')


def test_plan_runs_expands_each_protocol_in_run_order():
  single = protocols.plan_runs(protocols.SINGLE_SHOT, [0, 1], views=['a', 'b'])
  assert [(s.train_view, s.seed) for s in single] == [('a', 0), ('a', 1), ('b', 0), ('b', 1)]
  assert {s.protocol for s in single} == {protocols.SINGLE_SHOT}
  full = protocols.plan_runs(protocols.FULLY_SUPERVISED, [3], views=['ignored'])
  assert full == [protocols.RunSpec(protocols.FULLY_SUPERVISED, 3)]
  limited = protocols.plan_runs(protocols.LIMITED, [0, 1], fractions=['0.5', '1'])
  assert [(s.protocol, s.fraction, s.seed) for s in limited] == [
      (protocols.LIMITED, 0.5, 0), (protocols.LIMITED, 0.5, 1),
      (protocols.FULLY_SUPERVISED, 1.0, 0), (protocols.FULLY_SUPERVISED, 1.0, 1)]
  with pytest.raises(errors.InputError, match='training view'):
    protocols.plan_runs(protocols.SINGLE_SHOT, [0])
  with pytest.raises(errors.InputError, match='outside'):
    protocols.plan_runs(protocols.LIMITED, [0], fractions=[1.5])


def test_run_spec_picks_its_training_clips():
  data = feature_tables.FeatureSet(np.arange(24.0).reshape(12, 2, 1), np.repeat(np.arange(3), 4),
                                   np.array(['a', 'b'] * 6), np.array(['s'] * 12))
  one_view = protocols.RunSpec(protocols.SINGLE_SHOT, 0, train_view='b').training_set(data)
  np.testing.assert_array_equal(one_view.features, data.features[1::2])
  everything = protocols.RunSpec(protocols.FULLY_SUPERVISED, 0).training_set(data)
  np.testing.assert_array_equal(everything.features, data.features)
  half = protocols.RunSpec(protocols.LIMITED, 4, fraction=0.5).training_set(data)
  np.testing.assert_array_equal(
      half.features, protocols.sample_fraction(data, 0.5, 4).features)
  assert list(np.bincount(half.labels)) == [2, 2, 2]
