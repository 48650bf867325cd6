r"""Throughput of the CV-MIM step against a bare reference and the matmul ceiling.

  python -m poem_cvmim.benchmark [--batch_size=256] [--steps=10] [--rounds=7] \
      [--variants=reference,ceiling,cvmim,cvmim_xla]

Prints steps/s, GFLOP/s and the ratios full / reference and full / ceiling, medians over
interleaved rounds with their range. What each variant is: `poem_cvmim.representation.benchmarking`.
"""

from absl import flags
import tensorflow as tf

from poem_cvmim.core import cli
from poem_cvmim.representation import benchmarking

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_integer('batch_size', 256, 'Global batch size of pairs.')
  flags.DEFINE_integer('steps', 10, 'Timed steps of each variant in each round.')
  flags.DEFINE_integer('rounds', 7, 'Interleaved rounds.')
  flags.DEFINE_list('variants', ['reference', 'ceiling', 'cvmim', 'cvmim_xla'],
                    f'Any of {", ".join(benchmarking.VARIANTS)}.')


def main(argv):
  del argv
  try:
    report = benchmarking.interleaved(FLAGS.variants, FLAGS.batch_size, FLAGS.steps,
                                      FLAGS.rounds)
  except ValueError as error:
    cli.fail(error)
  threads = tf.config.threading.get_intra_op_parallelism_threads() or 'all'
  print(f'{threads} intra-op threads')
  print(benchmarking.format_report(report))


if __name__ == '__main__':
  cli.run(main, define_flags)
