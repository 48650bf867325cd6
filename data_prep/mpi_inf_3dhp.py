r"""Converts MPI-INF-3DHP (data_prep/README.md, "MPI-INF-3DHP"): the training sequences to pair
records of every ordered pair of the chosen cameras, the test set to sequence records with 3D.

  python -m data_prep.mpi_inf_3dhp --output_dir=out/3dhp --input_dir=mpi_inf_3dhp \
      [--test_dir=mpi_inf_3dhp_test_set] [--cameras=0,1,2,4,5,6,7,8] [--heldout_subjects=S8] \
      [--frame_stride=10] [--clip_length=250] [--num_workers=2]

Writes <output_dir>/pairs (train and test splits by subject) and <output_dir>/test_sequences.
"""

from absl import app
from absl import flags

from data_prep import converter_cli
from data_prep import mpi_inf_3dhp_dataset as mpi
from poem_cvmim.core import cli

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('output_dir', None, 'Directory for pairs/ and test_sequences/.')
  flags.DEFINE_string('input_dir', None, 'The training tree: S<s>/Seq<q>/annot.mat and '
                      'camera.calibration.')
  flags.DEFINE_string('test_dir', None, 'mpi_inf_3dhp_test_set: TS<n>/annot_data.mat.')
  flags.DEFINE_list('cameras', [str(c) for c in mpi.DEFAULT_CAMERAS], 'Training cameras to pair.')
  flags.DEFINE_list('heldout_subjects', ['S8'], 'Training subjects written to the test split.')
  flags.DEFINE_integer('frame_stride', 10, 'Use every n-th frame.', lower_bound=1)
  flags.DEFINE_integer('clip_length', 250, 'Frames per test-set sequence record.', lower_bound=2)
  converter_cli.define_common_flags(FLAGS)


def main(argv):
  del argv
  if not FLAGS.output_dir:
    raise app.UsageError('--output_dir is required.')

  def convert():  # config errors too become a one-line message
    try:
      cameras = tuple(int(c) for c in FLAGS.cameras)
    except ValueError:
      raise app.UsageError(f'--cameras takes camera numbers, got {",".join(FLAGS.cameras)}.'
                           ) from None
    return mpi.convert(mpi.MpiInf3dhpConfig(
        output_dir=FLAGS.output_dir, input_dir=FLAGS.input_dir or '',
        test_dir=FLAGS.test_dir or '', cameras=cameras,
        heldout_subjects=tuple(FLAGS.heldout_subjects), frame_stride=FLAGS.frame_stride,
        clip_length=FLAGS.clip_length, **converter_cli.common_values(FLAGS)))

  converter_cli.run(convert)


if __name__ == '__main__':
  cli.run(main, define_flags)
