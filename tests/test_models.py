"""Networks: the original's golden value, parameter counts, shapes, sharing and errors."""

import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.representation.algorithms import registry
from poem_cvmim.representation import configs
from poem_cvmim.representation import networks
from poem_cvmim.representation import pipeline


def test_golden_value_of_the_original():
  model = networks.SimpleModel((4,), embedder='GAUSSIAN', hidden_dim=2,
                             num_residual_linear_blocks=3, num_layers_per_block=2,
                             use_batch_norm=False, weight_initializer='ones')
  outputs, activations = model(tf.constant([[1.0, 2.0, 3.0]]), training=False)
  np.testing.assert_array_equal(outputs.numpy(), [[1937.0] * 4])
  assert list(activations) == ['flatten', 'fc0', 'res_fcs1', 'res_fcs2', 'res_fcs3',
                               'embedder']


def _trainable_count(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_encoder_parameter_count():
  encoder = networks.create_encoder(64)
  outputs, activations = encoder(tf.zeros([3, 13, 2]), training=False)
  assert outputs.shape == (3, 64) and activations['fc0'].shape == (3, 1024)
  assert _trainable_count(encoder) == 4_301_888


def test_gaussian_embedder_samples_in_training_and_adds_kl():
  encoder = networks.create_encoder(8, embedder='GAUSSIAN', dropout_rate=0.0)
  x = tf.random.normal([16, 13, 2])
  first, _ = encoder(x, training=True)
  assert len(encoder.losses) == 1 and encoder.losses[0].numpy() > 0.0
  second, _ = encoder(x, training=True)
  assert not np.allclose(first.numpy(), second.numpy())
  inference_a, _ = encoder(x, training=False)
  inference_b, _ = encoder(x, training=False)
  np.testing.assert_array_equal(inference_a.numpy(), inference_b.numpy())


def test_critic_takes_the_encoder_fc0_and_owns_two_residual_blocks():
  critic = networks.create_critic(32)
  outputs, activations = critic(tf.zeros([2, 1024]), training=False)
  assert outputs.shape == (2, 32)
  assert list(activations) == ['res_fcs1', 'res_fcs2', 'embedder']


def test_fusion_and_dimension_errors():
  pose, view = tf.constant([[1.0, 2.0]]), tf.constant([[3.0, 5.0]])
  np.testing.assert_array_equal(networks.fuse(pose, view, 'CAT').numpy(), [[1, 2, 3, 5]])
  np.testing.assert_array_equal(networks.fuse(pose, view, 'POE').numpy(), [[3, 10]])
  np.testing.assert_array_equal(networks.fuse(pose, view, 'MOE').numpy(), [[2, 3.5]])
  assert networks.critic_dim('CAT', 32, 16) == 48 and networks.critic_dim('MOE', 32, 32) == 32
  with pytest.raises(ValueError, match='pose_embedding_dim=32 and view_embedding_dim=16'):
    configs.AlgorithmConfig(fusion='POE', pose_embedding_dim=32, view_embedding_dim=16)
  with pytest.raises(ValueError, match='CAT, POE, MOE'):
    configs.AlgorithmConfig(fusion='SUM')
  with pytest.raises(ValueError, match="'SIMCLR'.*DISENTANGLE"):
    configs.AlgorithmConfig(algorithm='SIMCLR')


def test_estimator_bounds_logvar_and_discriminator_shape():
  estimator = networks.LikelihoodEstimator(32)
  mean, logvar = estimator(tf.random.normal([8, 32]) * 100, training=True)
  assert mean.shape == (8, 32) and np.all(np.abs(logvar.numpy()) < 1.0)
  discriminator = networks.create_discriminator(64)
  assert discriminator(tf.zeros([5, 64])).shape == (5, 1)
  assert [layer.units for layer in discriminator.layers] == [64, 32, 1]


@pytest.mark.parametrize('config', [
    configs.AlgorithmConfig(dropout_rate=0.0),
    configs.AlgorithmConfig(fusion='CAT', use_prior=False, disentangle_loss_weight=0.0),
    configs.AlgorithmConfig(algorithm='ALIGN'),
    configs.AlgorithmConfig(algorithm='AUTOENCODER'),
    configs.beta_vae(),
    configs.AlgorithmConfig(algorithm='INFOMAX', fusion='POE'),
    configs.AlgorithmConfig(algorithm='INFONCE'),
], ids=['cvmim', 'cvmim-cat-ablations', 'align', 'ae', 'beta-vae', 'dim', 'infonce'])
def test_every_algorithm_updates_every_player(config):
  algorithm = registry.create_algorithm(config)
  algorithm.build()
  before = {name: [v.numpy().copy() for v in algorithm.player_variables(name)]
            for name in algorithm.players}
  rng = np.random.default_rng(0)
  anchor, positive = rng.normal(scale=0.3, size=(2, 16, 13, 2)).astype(np.float32)
  terms = algorithm.update(tf.constant(anchor), tf.constant(positive))
  assert set(terms) | set(pipeline.STATISTIC_NAMES) == set(algorithm.term_names)
  assert all(np.isfinite(v.numpy()) for v in terms.values())
  assert int(algorithm.encoder_optimizer.iterations.numpy()) == 1
  for name in algorithm.players:
    after = algorithm.player_variables(name)
    assert any(not np.allclose(b, a.numpy()) for b, a in zip(before[name], after)), name
  pose, view = algorithm.embed(tf.constant(anchor))
  assert pose.shape == (16, config.pose_embedding_dim)
  assert view.shape[1] == (0 if config.algorithm == 'ALIGN' else config.view_embedding_dim)
  if config.algorithm == 'DISENTANGLE' and config.use_prior:
    assert set(algorithm.players) == {'encoder', 'estimator', 'discriminator'}


def test_ablations_drop_players():
  algorithm = registry.create_algorithm(
      configs.AlgorithmConfig(use_prior=False, disentangle_loss_weight=0.0))
  assert algorithm.players == ('encoder',)
  assert algorithm.estimator_optimizer is None and algorithm.discriminator_optimizer is None
