r"""Throughput of the CV-MIM step against a bare reference of the same Dense layers.

  python -m poem_cvmim.benchmark [--batch_size=256] [--steps=20]

What is measured is described in `poem_cvmim.representation.benchmarking`.
"""

from absl import flags
import tensorflow as tf

from poem_cvmim.core import cli
from poem_cvmim.representation import benchmarking

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_integer('batch_size', 256, 'Global batch size of pairs.')
  flags.DEFINE_integer('steps', 20, 'Timed steps after 3 warm-up steps.')


def main(argv):
  del argv
  batch, steps = FLAGS.batch_size, FLAGS.steps
  reference = benchmarking.steps_per_second(benchmarking.bare_reference(batch), batch, steps)
  full = benchmarking.steps_per_second(benchmarking.cvmim_step(batch), batch, steps)
  print(f'batch {FLAGS.batch_size}, {FLAGS.steps} timed steps, '
        f'{tf.config.threading.get_intra_op_parallelism_threads() or "all"} threads')
  print(f'bare Dense reference : {reference:8.2f} steps/s')
  print(f'CV-MIM DISENTANGLE   : {full:8.2f} steps/s')
  print(f'ratio (CV-MIM / ref) : {full / reference:8.3f}')


if __name__ == '__main__':
  cli.run(main, define_flags)
