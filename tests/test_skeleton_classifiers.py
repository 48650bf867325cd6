"""ST-GCN and HCN: the skeleton graphs and partition, shapes, parameter counts against the
references, bad inputs, resampling, the recipes and runs under the protocols."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import keras

from poem_cvmim.action import classifier_configs
from poem_cvmim.action import classifiers
from poem_cvmim.action import classify
from poem_cvmim.action import protocols
from poem_cvmim.action import skeleton_classifiers as sc
from poem_cvmim.core import graph_partition
from poem_cvmim.core import keypoints
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import features


def _count(model):
  return int(sum(np.prod(v.shape) for v in model.trainable_variables))


# -- Graphs ---------------------------------------------------------------------------------
def test_ntu25_spatial_partition_matches_the_reference():
  partition = graph_partition.spatial_partition(keypoints.NTU25_GRAPH)
  assert partition.shape == (3, 25, 25)
  assert [int(np.count_nonzero(a)) for a in partition] == [25, 40, 8]


@pytest.mark.parametrize('graph', [keypoints.NTU25_GRAPH, keypoints.COCO13_GRAPH],
                         ids=['ntu25', 'coco13'])
def test_columns_of_the_summed_partition_add_to_one(graph):
  total = graph_partition.spatial_partition(graph).sum(axis=0)
  np.testing.assert_allclose(total.sum(axis=0), 1.0, rtol=1e-6)
  # Self links plus each bone in both directions, nothing else.
  assert np.count_nonzero(total) == graph.num_joints + 2 * len(graph.edges)


def test_coco13_graph_hop_distances_and_the_reference_cap():
  graph = keypoints.COCO13_GRAPH
  uncapped = graph_partition.hop_distances(13, graph.edges, max_hop=13)
  np.testing.assert_array_equal(uncapped[graph.center], [0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3, 4, 4])
  capped = graph_partition.hop_distances(13, graph.edges)  # the reference's max_hop = 1
  assert np.isinf(capped[0, 3]) and capped[0, 1] == 1 and capped[5, 5] == 0
  assert [keypoints.get_profile(keypoints.LEGACY_2DCOCO13).keypoint_names[i]
          for i in (graph.center, 11)] == ['NOSE_TIP', 'LEFT_ANKLE']


# -- Models -----------------------------------------------------------------------------------
def test_parameter_counts_against_the_references():
  # The references' NTU-25 3D input, 60 classes: ST-GCN 3,098,832 (the reference model's
  # count: data BN over 75, 10 blocks with edge importance, 1x1 conv head; "3.1 M" in the
  # literature); HCN at T = 64 1,047,036 (the paper's widths; "about 1.05 M").
  stgcn = classifiers.get_temporal_classifier('STGCN', (300, 25, 3), 60)
  assert _count(stgcn) == 3_098_832
  inputs = keras.Input((300, 25, 3))
  hcn = keras.Model(inputs, sc.logits('HCN', inputs, 60, hcn_frames=64))
  assert _count(hcn) == 1_047_036
  # NTU-shaped raw keypoint features here: 300 frames x 13 joints x (y, x), 49 classes.
  assert _count(classifiers.get_temporal_classifier('STGCN', (300, 26), 49)) == 3_082_035
  assert _count(classifiers.get_temporal_classifier('HCN', (300, 13, 2), 49)) == 775_025


@pytest.mark.parametrize('kind', ['STGCN', 'HCN'])
@pytest.mark.parametrize('shape', [(20, 26), (20, 13, 2), (7, 26), (1, 26)],
                         ids=['flat', 'joints', 'short', 'one-frame'])
def test_skeleton_models_map_clips_to_logits(kind, shape):
  model = classifiers.get_temporal_classifier(kind, shape, 5)
  x = tf.random.normal((4,) + shape)
  for training in (True, False):
    assert model(x, training=training).shape == (4, 5)


def test_bad_inputs_name_the_numbers():
  with pytest.raises(ValueError, match=r'feature width of 32 is not 2 × a known joint count '
                     r'\(widths 26, 50\)'):
    classifiers.get_temporal_classifier('STGCN', (20, 32), 5)
  with pytest.raises(ValueError, match=r'No skeleton graph has 17 joints; graphs exist for '
                     r'13 \(LEGACY_2DCOCO13\), 25 \(NTU_RGBD_25\)'):
    classifiers.get_temporal_classifier('HCN', (20, 17, 2), 5)
  with pytest.raises(ValueError, match=r'\(T, D\) or \(T, V, C\)'):
    classifiers.get_temporal_classifier('HCN', (20,), 5)
  with pytest.raises(ValueError, match=r'must be \(T, D\) and'):
    classifiers.get_temporal_classifier('CONVNET', (20, 13, 2), 5)


def test_graph_convolution_sums_over_neighbours_with_importance():
  adjacency = graph_partition.spatial_partition(keypoints.COCO13_GRAPH)
  layer = sc.GraphConvolution(4, adjacency)
  x = tf.random.normal([2, 3, 13, 2])
  layer.build(x.shape)
  y = layer(x).numpy()
  features = layer.conv(x).numpy().reshape(2, 3, 13, 3, 4)
  expected = np.einsum('btvkc,kvw->btwc', features, adjacency)  # importance starts at 1
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_temporal_crop_resize():
  clip = tf.constant(np.arange(100, dtype=np.float32)[None, :, None].repeat(2, axis=0))
  layer = sc.TemporalCropResize(frames=32)
  test = layer(clip, training=False).numpy()[0, :, 0]
  np.testing.assert_allclose(test, np.linspace(5, 94, 32), rtol=1e-5)  # centre 90 %: 5..94
  for _ in range(5):
    train = layer(clip, training=True).numpy()[:, :, 0]
    spans = train[:, -1] - train[:, 0]
    assert np.all(np.diff(train, axis=1) >= 0) and np.all(train >= 0) and np.all(train <= 99)
    assert np.all(spans >= 49 - 1e-4) and np.all(spans <= 99 + 1e-4)  # 50-100 % of the clip
    steps = np.diff(train, axis=1)  # evenly spaced: a linear resize of a linear clip
    np.testing.assert_allclose(steps, np.broadcast_to(spans[:, None] / 31, steps.shape),
                               rtol=1e-4)


def test_frame_difference_of_uniform_motion_is_constant():
  t = np.arange(10, dtype=np.float32)
  clip = np.stack([t * 0.5, -t * 2.0], axis=-1)[None, :, None, :].repeat(3, axis=2)
  motion = sc.FrameDifference()(tf.constant(clip)).numpy()
  assert motion.shape == clip.shape
  np.testing.assert_allclose(motion[..., 0], 0.5, rtol=1e-6)
  np.testing.assert_allclose(motion[..., 1], -2.0, rtol=1e-6)


# -- Recipes and protocols ----------------------------------------------------------------------
def test_recipes_and_the_step_schedule():
  stgcn = classifier_configs.with_recipe(
      classifier_configs.ClassifierConfig(classifier='STGCN', num_steps=800))
  assert (stgcn.optimizer, stgcn.learning_rate, stgcn.weight_decay, stgcn.batch_size) == (
      'SGD_NESTEROV', 0.1, 1e-4, 64)
  optimizer = classify._optimizer(stgcn, 640)  # pylint: disable=protected-access
  assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov
  # 640 clips in batches of 64: 10 steps an epoch; x0.1 after epochs 10 and 50.
  schedule = classify.learning_rate_schedule(stgcn, 640)
  rates = [float(schedule(step)) for step in (0, 100, 101, 500, 501)]
  np.testing.assert_allclose(rates, [0.1, 0.1, 0.01, 0.01, 0.001], rtol=1e-6)
  hcn = classifier_configs.with_recipe(classifier_configs.ClassifierConfig(classifier='HCN'),
                                       batch_size=8)
  assert (hcn.optimizer, hcn.learning_rate, hcn.weight_decay, hcn.batch_size) == (
      'ADAM', 1e-3, 1e-4, 8)
  convnet = classifier_configs.with_recipe(classifier_configs.ClassifierConfig())
  assert convnet == classifier_configs.ClassifierConfig()  # the shared recipe


@pytest.fixture(scope='module')
def ntu_raw_table(smoke_dir, tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('ntu_raw'))
  features.write_feature_table(os.path.join(smoke_dir, 'ntu_like'), directory,
                               embedders.load_embedder('raw'), downsample_rate=4,
                               log=lambda _: None)
  return directory


@pytest.mark.parametrize('kind', ['STGCN', 'HCN'])
def test_runs_under_both_protocols_and_evaluates_from_its_checkpoint(kind, ntu_raw_table,
                                                                    tmp_path):
  config = classifier_configs.with_recipe(classifier_configs.ClassifierConfig(classifier=kind),
                                **vars_of(classifier_configs.PRESETS['smoke']))
  results = protocols.run_protocol(kind, ntu_raw_table, protocols.FULLY_SUPERVISED, config,
                                   [0], str(tmp_path), log=lambda _: None)
  assert len(results) == 1 and results[0]['optimizer'] == config.optimizer
  assert 0.0 <= results[0]['all']['top1'] <= 1.0
  run = os.path.join(str(tmp_path), kind, protocols.FULLY_SUPERVISED, protocols.ALL_VIEWS,
                     'fraction1', 'seed0')
  again = protocols.evaluate_run(run, ntu_raw_table)
  with open(os.path.join(run, protocols.RESULT_NAME)) as f:
    assert again['all'] == json.load(f)['all']
  shot = protocols.run_protocol(kind, ntu_raw_table, protocols.SINGLE_SHOT, config, [0],
                                str(tmp_path), train_views=['C1R1'], log=lambda _: None)
  assert [r['train_view'] for r in shot] == ['C1R1']


def vars_of(config):
  """The dataset preset's schedule fields (what `with_recipe` leaves to the preset)."""
  return {k: getattr(config, k) for k in ('batch_size', 'num_steps', 'steps_per_loop',
                                          'checkpoint_interval')}
