r"""Benchmarks: the CV-MIM step, and the fixed cost of a classifier run.

  python -m poem_cvmim.benchmark [--suite=step] [--batch_size=256] [--steps=10] [--rounds=7] \
      [--variants=reference,ceiling,cvmim,cvmim_xla]
  python -m poem_cvmim.benchmark --suite=classifier [--rounds=7]
  python -m poem_cvmim.benchmark --suite=refiner [--rounds=7] [--frames=20000]

`step` prints steps/s, GFLOP/s and the ratios full / reference and full / ceiling, medians over
interleaved rounds with their range (variants: `poem_cvmim.representation.benchmarking`).
`classifier` prints a run's wall time against its steps alone (`poem_cvmim.action.benchmarking`).
`refiner` prints the keypoint refiner's frames/s (`poem_cvmim.temporal.benchmarking`).
The NTU converter has its own: `python -m data_prep.ntu_benchmark`.
"""

from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.representation import benchmarking

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_enum('suite', 'step', ['step', 'classifier', 'refiner'], 'What to benchmark.')
  flags.DEFINE_integer('frames', 20000, 'Frames a round (--suite=refiner).')
  flags.DEFINE_integer('batch_size', 256, 'Global batch size of pairs.')
  flags.DEFINE_integer('steps', 10, 'Timed steps of each variant in each round.')
  flags.DEFINE_integer('rounds', 7, 'Interleaved rounds.')
  flags.DEFINE_list('variants', ['reference', 'ceiling', 'cvmim', 'cvmim_xla'],
                    f'Any of {", ".join(benchmarking.VARIANTS)}.')


def main(argv):
  del argv
  # Imported here, not at the top: --help must not load TensorFlow.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from poem_cvmim.action import benchmarking as classifier_benchmarking  # pylint: disable=g-import-not-at-top
  threads = tf.config.threading.get_intra_op_parallelism_threads() or 'all'
  if FLAGS.suite == 'refiner':
    from poem_cvmim.temporal import benchmarking as refiner_benchmarking  # pylint: disable=g-import-not-at-top
    print(f'{threads} intra-op threads')
    print(refiner_benchmarking.format_report(
        refiner_benchmarking.interleaved(FLAGS.frames, FLAGS.rounds), FLAGS.frames))
    return
  if FLAGS.suite == 'classifier':
    times = classifier_benchmarking.interleaved(FLAGS.rounds)
    print(f'{threads} intra-op threads')
    print(classifier_benchmarking.format_report(times))
    return
  report = benchmarking.interleaved(FLAGS.variants, FLAGS.batch_size, FLAGS.steps,
                                    FLAGS.rounds)
  print(f'{threads} intra-op threads')
  print(benchmarking.format_report(report))


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
