"""Distribution: two replicas give the step of one; missing workers fail with their address."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import tensorflow as tf

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
    from poem_cvmim.representation.algorithms import base
    from poem_cvmim.representation.algorithms import registry

    config = {config}
    rng = np.random.default_rng(0)
    anchor, positive = rng.normal(scale=0.3, size=(2, 16, 13, 2))
    # Read by algorithms that need 3D: one pose per pair, seen by both cameras, as in records.
    poses_3d = np.repeat(rng.normal(scale=0.3, size=(16, 1, 17, 3)), 2, axis=1)

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

    extra = lambda poses: dict(poses_3d=poses) if single.needs_3d else {{}}
    single_terms = tf.function(lambda a, p, k: single.update(base.pair_inputs(a, p, **extra(k))))(
        anchor, positive, poses_3d)
    halves = strategy.experimental_distribute_values_from_function(
        lambda ctx: (anchor[8 * ctx.replica_id_in_sync_group:][:8],
                     positive[8 * ctx.replica_id_in_sync_group:][:8],
                     poses_3d[8 * ctx.replica_id_in_sync_group:][:8]))
    multi_terms = tf.function(lambda inputs: strategy.run(
        lambda a, p, k: multi.update(base.pair_inputs(a, p, **extra(k))), args=inputs))(halves)
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


def _check_two_replicas(algorithm, fusion, config=None):
  config = config or (f"configs.AlgorithmConfig(dropout_rate=0.0, use_prior=False, "
                      f"fusion='{fusion}', algorithm='{algorithm}')")
  result = _run_python(_TWO_REPLICAS_EQUAL_ONE.format(config=config))
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


def test_two_replicas_equal_one_for_pr_vipe():
  # Samples are drawn per example of the global batch; negatives span both replicas' halves.
  _check_two_replicas('PR_VIPE', '-', config='configs.pr_vipe(dropout_rate=0.0)')


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


# Two workers (MultiWorkerMirroredStrategy over loopback), float64, one update each on its
# half of a fixed batch, against one process updating on the whole batch.
_WORKER = textwrap.dedent('''
    import os, sys
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
    import keras
    import numpy as np
    import tensorflow as tf
    keras.config.set_dtype_policy('float64')
    directory, role = sys.argv[1], sys.argv[2]
    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if role == 'worker'
                else tf.distribute.get_strategy())
    from poem_cvmim.representation import configs
    from poem_cvmim.representation.algorithms import base
    from poem_cvmim.representation.algorithms import registry
    config = configs.AlgorithmConfig(dropout_rate=0.0, use_prior=False)
    anchor, positive = np.random.default_rng(0).normal(scale=0.3, size=(2, 16, 13, 2))
    with strategy.scope():
      algorithm = registry.create_algorithm(config, synchronized_batch_norm=role == 'worker')
      algorithm.build()
    variables = [v for net in algorithm.networks().values() for v in net.variables]
    if role == 'single':
      np.savez(os.path.join(directory, 'initial.npz'), *[v.numpy() for v in variables])
      np.savez(os.path.join(directory, 'start.npz'),
               *[v.numpy() for v in algorithm.encoder.trainable_variables])
      tf.function(algorithm.update)(base.pair_inputs(anchor, positive))
    else:
      initial = np.load(os.path.join(directory, 'initial.npz'))
      for i, variable in enumerate(variables):
        variable.assign(initial[f'arr_{i}'])
      halves = strategy.experimental_distribute_values_from_function(
          lambda ctx: (anchor[8 * ctx.replica_id_in_sync_group:][:8],
                       positive[8 * ctx.replica_id_in_sync_group:][:8]))
      tf.function(lambda pair: strategy.run(
          lambda a, p: algorithm.update(base.pair_inputs(a, p)), args=pair))(halves)
    if role == 'single' or strategy.extended.should_checkpoint:
      np.savez(os.path.join(directory, role + '.npz'),
               *[v.numpy() for v in algorithm.encoder.trainable_variables])
    print('DONE', strategy.num_replicas_in_sync)
''')


def _cluster_env(index, addresses):
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', TF_CONFIG=json.dumps(
      {'cluster': {'worker': addresses}, 'task': {'type': 'worker', 'index': index}}))


def test_two_workers_on_loopback_train_the_weights_of_one(tmp_path):
  single = _run_python(_WORKER.replace("sys.argv[1], sys.argv[2]",
                                       f"{str(tmp_path)!r}, 'single'"))
  assert single.returncode == 0, single.stderr[-3000:]
  addresses = [f'localhost:{_free_port()}' for _ in range(2)]
  code = _WORKER.replace("sys.argv[1], sys.argv[2]", f"{str(tmp_path)!r}, 'worker'")
  workers = [subprocess.Popen([sys.executable, '-c', code], cwd=_ROOT,
                              env=_cluster_env(i, addresses), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
  outputs = [w.communicate(timeout=300) for w in workers]
  for worker, (out, err) in zip(workers, outputs):
    assert worker.returncode == 0 and 'DONE 2' in out, err[-3000:]
  one, two = np.load(tmp_path / 'single.npz'), np.load(tmp_path / 'worker.npz')
  initial = np.load(tmp_path / 'start.npz')
  assert len(one.files) == len(two.files) > 10
  worst = max(float(np.linalg.norm(one[k] - two[k]) / np.linalg.norm(one[k]))
              for k in one.files)
  moved = max(float(np.linalg.norm(one[k] - initial[k])) for k in one.files)
  print(f'two workers vs one process: relative weight difference {worst:.2e}')
  assert moved > 1e-3 and worst < 1e-5


def test_a_killed_worker_stops_its_peer_with_one_line_and_the_checkpoint_resumes(
    smoke_dir, tmp_path):
  addresses = [f'localhost:{_free_port()}' for _ in range(2)]
  run = str(tmp_path / 'run')
  flags = ['--smoke', f'--input_table={os.path.join(smoke_dir, "pairs", "train-*")}',
           f'--log_dir_path={run}', '--checkpoint_interval=5', '--seed=0']
  logs = [open(tmp_path / f'worker{i}.log', 'w') for i in range(2)]  # pylint: disable=consider-using-with
  workers = [subprocess.Popen(  # stderr to files: a full pipe would block the workers
      [sys.executable, '-m', 'poem_cvmim.train', *flags, '--num_iterations=100000',
       '--peer_timeout_s=30'], cwd=_ROOT, env=_cluster_env(i, addresses),
      stdout=subprocess.DEVNULL, stderr=logs[i]) for i in range(2)]
  deadline = time.monotonic() + 300
  while not tf.train.latest_checkpoint(run):
    assert all(w.poll() is None for w in workers) and time.monotonic() < deadline
    time.sleep(0.2)
  workers[1].send_signal(signal.SIGKILL)
  killed_at = time.monotonic()
  workers[0].wait(timeout=120)
  assert time.monotonic() - killed_at < 30 + 30  # the peer timeout, and time to exit
  workers[1].wait()
  for log in logs:
    log.close()
  err = (tmp_path / 'worker0.log').read_text()
  lines = [l for l in err.strip().splitlines() if l.startswith('error: ')]
  assert workers[0].returncode == 2 and lines, err[-3000:]
  assert f'Lost worker {addresses[1]}' in lines[-1], lines[-1]
  latest = tf.train.latest_checkpoint(run)
  step = int(latest.rsplit('-', 1)[1])
  resumed = subprocess.run([sys.executable, '-m', 'poem_cvmim.train', *flags,
                            f'--num_iterations={step + 2}'], cwd=_ROOT, capture_output=True,
                           text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert json.loads(resumed.stdout[resumed.stdout.index('{'):])['step'] == step + 2
