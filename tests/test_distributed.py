"""Distribution: two replicas give the step of one; missing workers fail with their address."""

import json
import os
import socket
import subprocess
import sys
import textwrap

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in a fresh process: logical devices must be configured before TensorFlow starts.
_TWO_REPLICAS_EQUAL_ONE = textwrap.dedent('''
    import os
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
    import keras
    import numpy as np
    import tensorflow as tf
    # float64: summation order across replicas cannot flip a ReLU or a sign (float32 did, and
    # moved a whole row of a 1024-wide kernel under Adagrad's first, sign-like step).
    keras.config.set_dtype_policy('float64')
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from poem_cvmim.representation import configs
    from poem_cvmim.representation.algorithms import registry

    config = configs.AlgorithmConfig(dropout_rate=0.0, use_prior=False, fusion='{fusion}',
                                     algorithm='{algorithm}')
    rng = np.random.default_rng(0)
    anchor, positive = rng.normal(scale=0.3, size=(2, 16, 13, 2))

    def variables(algorithm):
      return [v for net in algorithm.networks().values() for v in net.variables]

    single = registry.create_algorithm(config)
    single.build()
    initial = [v.numpy() for v in variables(single)]
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    with strategy.scope():
      multi = registry.create_algorithm(config, synchronized_batch_norm=True)
      multi.build()
      for variable, value in zip(variables(multi), initial):
        variable.assign(value)

    single_terms = tf.function(single.update)(anchor, positive)
    halves = strategy.experimental_distribute_values_from_function(
        lambda ctx: (anchor[8 * ctx.replica_id_in_sync_group:][:8],
                     positive[8 * ctx.replica_id_in_sync_group:][:8]))
    multi_terms = tf.function(lambda pair: strategy.run(
        lambda a, p: multi.update(a, p), args=pair))(halves)
    # Relative error of each updated encoder variable (norms), and of each update that is
    # more than float32 noise (biases before batch norm get no gradient but noise).
    worst = worst_update = moved = 0.0
    start = dict(zip([v.path for v in variables(single)], initial))
    for a, b in zip(single.encoder.trainable_variables, multi.encoder.trainable_variables):
      w, a, b = start[a.path], a.numpy(), b.numpy()
      worst = max(worst, float(np.linalg.norm(a - b) / np.linalg.norm(a)))
      update = np.linalg.norm(a - w)
      moved = max(moved, float(update))
      if update > 1e-5:
        worst_update = max(worst_update, float(np.linalg.norm((a - w) - (b - w)) / update))
    loss_single = float(single_terms['encoder/total_loss'])
    loss_multi = float(strategy.reduce('MEAN', multi_terms['encoder/total_loss'], axis=None))
    print('RESULT', worst, worst_update, moved, loss_single, loss_multi)
''')


def _run_python(code, env=None, timeout=600):
  return subprocess.run([sys.executable, '-c', code], cwd=_ROOT, capture_output=True,
                        text=True, timeout=timeout, env=env)


def _check_two_replicas(algorithm, fusion):
  result = _run_python(_TWO_REPLICAS_EQUAL_ONE.format(algorithm=algorithm, fusion=fusion))
  assert result.returncode == 0, result.stderr[-3000:]
  line = [l for l in result.stdout.splitlines() if l.startswith('RESULT')][-1]
  worst, worst_update, moved, loss_single, loss_multi = map(float, line.split()[1:])
  print(f'{algorithm}/{fusion}: relative weight difference {worst:.2e}, relative update '
        f'difference {worst_update:.2e}, largest update {moved:.2e}, loss {loss_single:.6f} '
        f'(1 replica) vs {loss_multi:.6f} (2 replicas)')
  assert moved > 1e-3  # the step did change the weights
  assert worst < 1e-5
  assert worst_update < 1e-3
  assert abs(loss_single - loss_multi) <= 1e-5 * abs(loss_single)


def test_two_replicas_equal_one_for_cvmim():
  _check_two_replicas('DISENTANGLE', 'MOE')


def test_two_replicas_equal_one_for_infomax_with_concatenation():
  _check_two_replicas('INFOMAX', 'CAT')


def test_two_replicas_equal_one_for_infonce():
  _check_two_replicas('INFONCE', 'MOE')


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_missing_worker_fails_with_its_address(tmp_path):
  me, missing = f'localhost:{_free_port()}', f'localhost:{_free_port()}'
  env = dict(os.environ, TF_CONFIG=json.dumps(
      {'cluster': {'worker': [me, missing]}, 'task': {'type': 'worker', 'index': 0}}))
  result = subprocess.run(
      [sys.executable, '-m', 'poem_cvmim.train', '--input_table=unused',
       f'--log_dir_path={tmp_path}', '--peer_timeout_s=3'],
      cwd=_ROOT, capture_output=True, text=True, timeout=120, env=env)
  assert result.returncode != 0
  assert f'Workers never came up within 3 s: {missing}' in result.stderr, result.stderr[-2000:]
