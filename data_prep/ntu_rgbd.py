r"""Converts NTU RGB+D `.skeleton` files to sequence and pair records (data_prep/README.md).

  python -m data_prep.ntu_rgbd --input_dir=nturgb+d_skeletons --output_dir=out/ntu \
      [--mode=sequences|pairs|both] [--benchmark=xsub|xview] [--num_workers=2]

writes out/ntu/sequences/ and/or out/ntu/pairs/ with manifests (data_prep/README.md).
"""

from absl import app
from absl import flags

from data_prep import converter_cli
from data_prep import ntu_rgbd_dataset as ntu
from poem_cvmim.core import cli

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('input_dir', None, 'Directory holding the .skeleton files.')
  flags.DEFINE_string('output_dir', None, 'Directory to write sequences/ and pairs/ under.')
  flags.DEFINE_enum('mode', ntu.SEQUENCES, sorted(ntu.MODES), 'Which records to write.')
  flags.DEFINE_enum('benchmark', ntu.XSUB, [ntu.XSUB, ntu.XVIEW], 'Train/test split.')
  flags.DEFINE_string('missing_list', ntu.MISSING_LIST,
                      'Samples with missing skeletons to skip (default: the shipped list).')
  flags.DEFINE_integer('pair_frame_stride', 1, 'Pair records from every n-th frame.')
  converter_cli.define_common_flags(FLAGS)


def main(argv):
  del argv
  if not FLAGS.input_dir or not FLAGS.output_dir:
    raise app.UsageError('--input_dir and --output_dir are required.')

  def convert():  # config errors too become a one-line message
    return ntu.convert(ntu.NtuConfig(
        input_dir=FLAGS.input_dir, output_dir=FLAGS.output_dir, mode=FLAGS.mode,
        benchmark=FLAGS.benchmark, missing_list=FLAGS.missing_list,
        pair_frame_stride=FLAGS.pair_frame_stride, **converter_cli.common_values(FLAGS)))

  converter_cli.run(convert)


if __name__ == '__main__':
  cli.run(main, define_flags)
