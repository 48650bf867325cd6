r"""Converts Penn Action label files to sequence records (data_prep/README.md).

  python -m data_prep.penn_action --input_dir=Penn_Action --output_dir=out/penn_action \
      [--num_workers=2] [--min_visible_joints=0.5] [--min_visible_frames=0.5]

reads Penn_Action/labels/*.mat and writes `<split>-<view>-*.tfrecord` shards and a manifest
(data_prep/README.md).
"""

from absl import app
from absl import flags

from data_prep import converter_cli
from data_prep import penn_action_dataset as penn
from poem_cvmim.core import cli

FLAGS = flags.FLAGS
_DEFAULTS = penn.PennConfig(input_dir='', output_dir='')


def define_flags():
  flags.DEFINE_string('input_dir', None, 'Penn Action root (holding labels/) or the labels dir.')
  flags.DEFINE_string('output_dir', None, 'Directory for the shards and manifest.json.')
  flags.DEFINE_float('min_visible_joints', _DEFAULTS.min_visible_joints,
                     'A frame counts as visible when this fraction of its joints is visible.')
  flags.DEFINE_float('min_visible_frames', _DEFAULTS.min_visible_frames,
                     'Clips with fewer visible frames than this fraction are dropped.')
  converter_cli.define_common_flags(FLAGS)


def main(argv):
  del argv
  if not FLAGS.input_dir or not FLAGS.output_dir:
    raise app.UsageError('--input_dir and --output_dir are required.')

  def convert():  # config errors too become a one-line message
    return penn.convert(penn.PennConfig(
        input_dir=FLAGS.input_dir, output_dir=FLAGS.output_dir,
        min_visible_joints=FLAGS.min_visible_joints,
        min_visible_frames=FLAGS.min_visible_frames, **converter_cli.common_values(FLAGS)))

  converter_cli.run(convert)


if __name__ == '__main__':
  cli.run(main, define_flags)
