"""Networks: the original's golden value, parameter counts, shapes, sharing and errors; both
views in one pass against one pass per view."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from poem_cvmim.representation.algorithms import base
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


def test_gaussian_embedder_loss_is_the_kl_to_the_standard_normal(float64):
  """The loss the VAE embedder adds is KL(N(mean, e^logvar) || N(0, I)), summed over dims and
  averaged over the batch: written out in NumPy and equal to Pr-VIPE's tested
  `gaussian_kl_divergence` of the same Gaussians."""
  from poem_cvmim.representation import triplet_losses  # pylint: disable=g-import-not-at-top
  embedder = networks.GaussianEmbedder(5, 'glorot_uniform', 0.0)
  x = tf.constant(np.random.default_rng(0).normal(size=(7, 11)))
  embedder(x, training=True)
  (loss,) = embedder.losses
  mean = embedder.mean_layer(x).numpy()
  logvar = networks.LOGVAR_BOUND * np.tanh(embedder.logvar_layer(x).numpy())
  expected = np.mean(0.5 * np.sum(np.exp(logvar) + mean ** 2 - 1.0 - logvar, axis=-1))
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)
  np.testing.assert_allclose(
      loss.numpy(),
      np.mean(triplet_losses.gaussian_kl_divergence(mean, np.exp(logvar / 2.0)).numpy()),
      rtol=1e-9)


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
  terms = algorithm.update(base.pair_inputs(tf.constant(anchor), tf.constant(positive)))
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


def _copy_weights(source, target):
  for a, b in zip(source.variables, target.variables):
    b.assign(a)


def test_grouped_call_equals_one_call_per_part(float64):
  """Both views stacked in one call (groups=2): the outputs, gradients and moving statistics
  of a call on each view in turn, with the same dropout keys."""
  def model():
    return networks.SimpleModel((6,), hidden_dim=16, dropout_rate=0.25)
  separate, grouped = model(), model()
  rng = np.random.default_rng(1)
  parts = [tf.constant(rng.normal(size=(8, 13, 2))) for _ in range(2)]
  separate(parts[0]), grouped(parts[0])
  _copy_weights(separate, grouped)
  keys = [tf.constant([3, 4]), tf.constant([5, 6])]
  weights = tf.constant(rng.normal(size=(16, 6)))
  with tf.GradientTape(persistent=True) as tape:
    outputs = [separate(x, training=True, seed=k)[0] for x, k in zip(parts, keys)]
    separate_outputs = tf.concat(outputs, axis=0)
    grouped_outputs, activations = grouped(tf.concat(parts, axis=0), training=True,
                                           seed=keys, groups=2)
    separate_loss = tf.reduce_sum(weights * tf.sin(separate_outputs))
    grouped_loss = tf.reduce_sum(weights * tf.sin(grouped_outputs))
  assert activations['fc0'].shape == (16, 16)
  np.testing.assert_allclose(grouped_outputs, separate_outputs, rtol=1e-11, atol=1e-12)
  for a, b in zip(tape.gradient(separate_loss, separate.trainable_variables),
                  tape.gradient(grouped_loss, grouped.trainable_variables)):
    np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
  moving = [v for v in separate.non_trainable_variables if 'moving' in v.path]
  assert len(moving) == 10  # 5 batch norms, mean and variance
  for a, b in zip(separate.non_trainable_variables, grouped.non_trainable_variables):
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
  # Keys in the other order draw other masks.
  swapped, _ = grouped(tf.concat(parts, axis=0), training=True, seed=keys[::-1], groups=2)
  assert not np.allclose(swapped, separate_outputs)


def test_grouped_call_refuses_synchronized_batch_norm_and_the_gaussian_embedder():
  x = tf.zeros([4, 13, 2])
  with pytest.raises(ValueError, match='Synchronized batch norm'):
    networks.create_encoder(8, synchronized_batch_norm=True)(x, training=True, groups=2)
  with pytest.raises(ValueError, match='Gaussian embedder'):
    networks.create_encoder(8, embedder='GAUSSIAN')(x, training=True, groups=2)


@pytest.mark.parametrize('config', [
    configs.AlgorithmConfig(),
    configs.AlgorithmConfig(algorithm='INFONCE'),
    configs.AlgorithmConfig(algorithm='AUTOENCODER'),
], ids=['cvmim', 'infonce', 'ae'])
def test_both_views_in_one_pass_give_the_step_of_one_pass_per_view(config, float64):
  """Two updates with E and the critic run once on both views against once per view: the
  same loss terms and every variable (moving statistics and optimizer slots included)."""
  def trained(merge):
    keras.utils.set_random_seed(3)
    algorithm = registry.create_algorithm(config)
    algorithm.merge_views = merge
    algorithm.build()
    algorithm.run_seed.assign(7)
    assert algorithm.merges_views == merge
    rng = np.random.default_rng(2)
    anchor, positive = tf.constant(rng.normal(scale=0.3, size=(2, 16, 13, 2)))
    step = tf.function(algorithm.update)
    for _ in range(2):
      terms = step(base.pair_inputs(anchor, positive))
    variables = [v for net in algorithm.networks().values() for v in net.variables]
    variables += [v for opt in algorithm.optimizers.values() for v in opt.variables]
    return {k: float(v) for k, v in terms.items()}, [v.numpy() for v in variables]
  (terms, variables), (merged_terms, merged_variables) = trained(False), trained(True)
  assert set(terms) == set(merged_terms)
  for name, value in terms.items():
    np.testing.assert_allclose(merged_terms[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
  assert len(variables) == len(merged_variables)
  for a, b in zip(variables, merged_variables):
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_views_go_one_pass_each_where_one_pass_would_not_be_exact():
  assert registry.create_algorithm(configs.AlgorithmConfig()).merges_views
  assert not registry.create_algorithm(configs.AlgorithmConfig(),
                                       synchronized_batch_norm=True).merges_views
  assert not registry.create_algorithm(configs.beta_vae()).merges_views


def _vae_logvars(gaussian_logvar, steps):
  """The log-variances of a VAE's Gaussian head on a batch, after `steps` training steps."""
  from tests import test_algorithm_inputs  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  algorithm = registry.create_algorithm(configs.beta_vae(1.0, gaussian_logvar=gaussian_logvar))
  algorithm.build()
  batch = test_algorithm_inputs._parsed_batch(np.random.default_rng(0), 64)  # pylint: disable=protected-access
  batch = {k: tf.cast(v, tf.float32) if v.dtype == tf.float64 else v for k, v in batch.items()}
  for _ in range(steps):
    algorithm.train_step(batch)
  inputs, _ = algorithm.preprocess(batch)
  _, activations = algorithm.encoder(inputs[pipeline.ANCHOR], training=False)
  head = algorithm.encoder.blocks[-1]
  return (networks.LOGVAR_BOUND * tf.tanh(head.logvar_scale * head.logvar_layer(
      activations[algorithm.encoder.blocks[-2].name]))).numpy()


def test_the_vae_keeps_learning_its_variances():
  """The log-variance head of runs made before (TANH: 10 tanh(x), he_normal) starts at
  variances up to e^10 and is pinned at -10 within a few steps, where its gradient vanishes,
  for good; SOFT (10 tanh(x / 10) from a zero head) may overshoot in Adagrad's first steps but
  comes back inside the bound."""
  assert np.mean(_vae_logvars(configs.GAUSSIAN_LOGVAR_TANH, 0) > 5.0) > 0.1
  assert np.mean(_vae_logvars(configs.GAUSSIAN_LOGVAR_TANH, 60) < -9.9) > 0.99
  soft = _vae_logvars(configs.GAUSSIAN_LOGVAR_SOFT, 60)
  assert np.mean(soft < -9.9) < 0.001 and -5.0 < np.median(soft) < 0.0
