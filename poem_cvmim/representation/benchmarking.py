"""Throughput of the CV-MIM update against a bare reference and the machine's matmul ceiling.

- `reference`: Dense layers of the same shapes as E and the critic, run forward and backward on
  the anchor and the positive batch with the step's Adagrad, and nothing else (no losses, batch norm,
  dropout, Q or D): the ratio full / reference is what the method costs on top of its matrix
  products.
- `ceiling`: a chain of square float32 matrix products (1024 x 1024 x 1024), the rate this
  machine multiplies matrices at.
- `cvmim` (and `cvmim_xla`, the same step compiled with XLA): one update of every player;
  `cvmim_separate_views` runs E and the critic once per view (as before both views went
  through them in one call), the other `cvmim_*` variants drop one part of the step.

GFLOP/s counts the reference's matrix work (`step_flops`), which is the step's as well up to the
small Q, D and embedder heads. Variants are timed in interleaved rounds (A B C A B C ...), so a
slow moment of a shared machine hits all of them alike; each round gives one rate per variant and
one ratio per pair, and the report gives medians with their range.

TensorFlow and the networks are imported when a variant is built, not with the module: the
benchmark command lists the variants in its --help without loading them.
"""

import dataclasses
import statistics
import time
from typing import Callable, Dict, List

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import timing
from poem_cvmim.representation import configs

tf = lazy_tensorflow.deferred

_NUM_JOINTS = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).keypoint_num
_HIDDEN, _EMBEDDING, _CRITIC, _LAYERS = 1024, 64, 32, 4  # the default E and critic
_CEILING_SIZE, _CEILING_CHAIN = 1024, 8


def _encoder_shapes():
  return ([(_NUM_JOINTS * 2, _HIDDEN)] + [(_HIDDEN, _HIDDEN)] * _LAYERS
          + [(_HIDDEN, _EMBEDDING)])


def _head_shapes():
  return [(_HIDDEN, _HIDDEN)] * _LAYERS + [(_HIDDEN, _CRITIC)]


def step_flops(batch_size: int) -> float:
  """Floating-point operations of the reference's matrix products in one step.

  Per Dense layer (i -> o) on N rows: 2 N i o forward, 2 N i o for the weight gradient and
  2 N i o for the input gradient (not for the first layer, whose input is data); for the
  anchor and the positive batch.
  """
  total = 0.0
  for index, (i, o) in enumerate(_encoder_shapes() + _head_shapes()):
    total += 2.0 * batch_size * i * o * (2 if index == 0 else 3)
  return 2 * total


def ceiling_flops() -> float:
  return 2.0 * _CEILING_SIZE ** 3 * _CEILING_CHAIN


def bare_reference(batch_size: int):
  """A compiled step of the same Dense shapes as E + critic, forward and backward."""
  def stack(shapes):
    import keras  # pylint: disable=g-import-not-at-top
    return [keras.layers.Dense(o, activation=None if k == len(shapes) - 1 else 'relu')
            for k, (_, o) in enumerate(shapes)]
  encoder, head = stack(_encoder_shapes()), stack(_head_shapes())
  from poem_cvmim.representation import kernels  # pylint: disable=g-import-not-at-top
  optimizer = kernels.adagrad(configs.AlgorithmConfig())  # the step's optimizer

  def forward(x):
    x = tf.reshape(x, [batch_size, -1])
    fc0 = encoder[0](x)
    h = fc0
    for layer in encoder[1:]:
      h = layer(h)
    s = fc0
    for layer in head:
      s = layer(s)
    return tf.reduce_mean(h) + tf.reduce_mean(s)

  variables = []

  @tf.function
  def step(anchor, positive):
    with tf.GradientTape() as tape:
      loss = forward(anchor) + forward(positive)
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return loss

  forward(tf.zeros([batch_size, _NUM_JOINTS, 2]))
  variables.extend(v for layer in encoder + head for v in layer.trainable_variables)
  optimizer.build(variables)
  return step


def matmul_ceiling(batch_size: int):
  """A compiled chain of square products; called like a step (its inputs are ignored)."""
  del batch_size
  weights = tf.Variable(tf.random.stateless_normal([_CEILING_SIZE] * 2, [1, 2]) / 32.0)
  start = tf.random.stateless_normal([_CEILING_SIZE] * 2, [3, 4])

  @tf.function
  def step(anchor, positive):
    del anchor, positive
    x = start
    for _ in range(_CEILING_CHAIN):
      x = tf.matmul(x, weights)
    return tf.reduce_sum(x)
  return step


def cvmim_step(batch_size: int, jit_compile: bool = False, merge_views: bool = True,
               **overrides):
  """The update of every player of CV-MIM (defaults, or `overrides` of AlgorithmConfig);
  `merge_views=False` runs E and the critic once per view instead of on both at once."""
  del batch_size
  from poem_cvmim.representation.algorithms import registry  # pylint: disable=g-import-not-at-top
  algorithm = registry.create_algorithm(configs.AlgorithmConfig(**overrides))
  algorithm.merge_views = merge_views
  algorithm.build()
  from poem_cvmim.representation.algorithms import base  # pylint: disable=g-import-not-at-top
  update = tf.function(algorithm.update, jit_compile=jit_compile)
  return lambda anchor, positive: update(base.pair_inputs(anchor, positive))


VARIANTS: Dict[str, Callable] = {
    'reference': bare_reference,
    'ceiling': matmul_ceiling,
    'cvmim': cvmim_step,
    'cvmim_xla': lambda batch_size: cvmim_step(batch_size, jit_compile=True),
    'cvmim_no_dropout': lambda batch_size: cvmim_step(batch_size, dropout_rate=0.0),
    'cvmim_no_club': lambda batch_size: cvmim_step(batch_size, disentangle_loss_weight=0.0),
    'cvmim_no_prior': lambda batch_size: cvmim_step(batch_size, use_prior=False),
    'cvmim_separate_views': lambda batch_size: cvmim_step(batch_size, merge_views=False),
}


def _inputs(batch_size):
  return (tf.random.stateless_normal([batch_size, _NUM_JOINTS, 2], [5, 6], stddev=0.3),
          tf.random.stateless_normal([batch_size, _NUM_JOINTS, 2], [7, 8], stddev=0.3))


def _block(result):
  tf.nest.map_structure(lambda t: t.numpy(), result)


@dataclasses.dataclass
class Report:
  batch_size: int
  rates: Dict[str, List[float]]  # steps/s of each round

  def median(self, name) -> float:
    return statistics.median(self.rates[name])

  def ratios(self, a, b) -> List[float]:
    return [x / y for x, y in zip(self.rates[a], self.rates[b])]

  def gflops(self, name) -> List[float]:
    flops = ceiling_flops() if name == 'ceiling' else step_flops(self.batch_size)
    return [r * flops / 1e9 for r in self.rates[name]]


def interleaved(names, batch_size: int, steps: int, rounds: int, warmup: int = 3,
                log=print) -> Report:
  """Builds every variant, then times `steps` steps of each in turn, `rounds` times."""
  unknown = [n for n in names if n not in VARIANTS]
  if unknown:
    raise errors.InputError(f'Unknown variant(s) {unknown}; valid: {", ".join(VARIANTS)}.')
  anchor, positive = _inputs(batch_size)
  built = {}
  for name in names:
    built[name] = VARIANTS[name](batch_size)
    for _ in range(warmup):
      _block(built[name](anchor, positive))
  rates = {name: [] for name in names}
  for round_index in range(rounds):
    for name in names:
      start = time.perf_counter()
      for _ in range(steps):
        result = built[name](anchor, positive)
      _block(result)
      rates[name].append(steps / (time.perf_counter() - start))
    log(f'round {round_index + 1} of {rounds}: '
        + ', '.join(f'{n} {rates[n][-1]:.2f}/s' for n in names))
  return Report(batch_size, rates)


def format_report(report: Report) -> str:
  """Rates, GFLOP/s and the ratios (medians over rounds, [min–max])."""
  lines = [f'batch {report.batch_size}: step matrix work {step_flops(report.batch_size) / 1e9:.1f} '
           f'GFLOP; ceiling chain {ceiling_flops() / 1e9:.1f} GFLOP; '
           f'{len(next(iter(report.rates.values())))} interleaved rounds, medians [min–max]']
  for name in report.rates:
    lines.append(f'{name:18s} {timing.spread(report.rates[name])} steps/s  '
                 f'{timing.spread(report.gflops(name), "{:.0f}")} GFLOP/s')
  names = [n for n in report.rates if n not in ('reference', 'ceiling')]
  for name in names:
    if 'reference' in report.rates:
      lines.append(f'{name} / reference       : {timing.spread(report.ratios(name, "reference"), "{:.3f}")}')
    if 'ceiling' in report.rates:
      fractions = [g / c for g, c in zip(report.gflops(name), report.gflops('ceiling'))]
      lines.append(f'{name} / matmul ceiling  : {timing.spread(fractions, "{:.3f}")}')
  if 'reference' in report.rates and 'ceiling' in report.rates:
    fractions = [g / c for g, c in zip(report.gflops('reference'), report.gflops('ceiling'))]
    lines.append(f'reference / matmul ceiling : {timing.spread(fractions, "{:.3f}")}')
  return '\n'.join(lines)
