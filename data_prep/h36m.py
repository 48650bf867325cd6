r"""Converts Human3.6M to pair records: all 12 ordered camera pairs per frame (data_prep/README.md).

One 3D source, optionally one 2D source (without one, 2D is the 3D projected with the shipped
cameras):
  python -m data_prep.h36m --output_dir=out/h36m --h5_dir=h36m [--csv=detections.csv]
  python -m data_prep.h36m --output_dir=out/h36m --npz_3d=data_3d_h36m.npz \
      [--npz_2d=data_2d_h36m_cpn_ft_h36m_dbb.npz]
  python -m data_prep.h36m --output_dir=out/h36m --cdf_dir=H36M_ROOT
with [--subjects=train|val|all|S1,S5] [--frame_stride=1] [--num_workers=2].
"""

from absl import app
from absl import flags

from data_prep import converter_cli
from data_prep import h36m_dataset as h36m
from poem_cvmim.core import cli

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('output_dir', None, 'Directory for the shards and manifest.json.')
  flags.DEFINE_string('h5_dir', None, '3d-pose-baseline tree: <Subject>/MyPoses/3D_positions/*.h5')
  flags.DEFINE_string('npz_3d', None, 'VideoPose3D data_3d_h36m.npz.')
  flags.DEFINE_string('cdf_dir', None, 'Official tree: <Subject>/MyPoseFeatures/D3_Positions/*.cdf')
  flags.DEFINE_string('csv', None, '2D detections CSV (one entry or a pair per row).')
  flags.DEFINE_string('npz_2d', None, 'VideoPose3D data_2d_h36m_<detector>.npz.')
  flags.DEFINE_string('subjects', 'all', 'train (S1,S5-S8), val (S9,S11), all, or S1,S5,...')
  flags.DEFINE_integer('frame_stride', 1, 'Use every n-th frame.')
  converter_cli.define_common_flags(FLAGS)


def main(argv):
  del argv
  if not FLAGS.output_dir:
    raise app.UsageError('--output_dir is required.')

  def convert():  # config errors too become a one-line message
    return h36m.convert(h36m.H36mConfig(
        output_dir=FLAGS.output_dir, h5_dir=FLAGS.h5_dir, npz_3d=FLAGS.npz_3d,
        cdf_dir=FLAGS.cdf_dir, csv=FLAGS.csv, npz_2d=FLAGS.npz_2d, subjects=FLAGS.subjects,
        frame_stride=FLAGS.frame_stride, **converter_cli.common_values(FLAGS)))

  converter_cli.run(convert)


if __name__ == '__main__':
  cli.run(main, define_flags)
