r"""Pair records from your own synchronised cameras' detector output (data_prep/README.md).

  python -m data_prep.detections --rig=my_rig[,my_rig2,...] --output_dir=out/my_rig_pairs \
      [--format=auto] [--image_size=HEIGHT,WIDTH] [--frame_stride=1]

Each --rig folder is one recording: one sub-folder (OpenPose or MMPose per-frame JSON,
MediaPipe per-frame JSON) or one .json file (COCO results, MMPose predictions, MediaPipe
landmarks) per camera; the same frame number is the same instant in every camera. Writes
`train-*.tfrecord` pair records (every ordered camera pair of every frame, with clip, frame
and camera metadata, no 3D) and manifest.json; train on them with
`--model_input_keypoint_type=2D_INPUT` (and `--temporal_negatives`, `--init_from=RUN`).
"""

from absl import app
from absl import flags

from data_prep import converter_cli
from data_prep import rig_dataset
from poem_cvmim.core import cli
from poem_cvmim.core import detections
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import shards

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_list('rig', None, 'Recording folders, each holding one sub-folder or .json '
                    'file per camera.')
  flags.DEFINE_string('output_dir', None, 'Directory for the pair records and manifest.json.')
  flags.DEFINE_enum('format', 'auto', detections.FORMATS, 'Detector output format.')
  flags.DEFINE_enum('layout', None, list(detections.LAYOUTS),
                    'OpenPose joint layout (default from the joint count; BODY_25B must be named).')
  flags.DEFINE_enum('person', 'most_confident', detections.PERSON_RULES,
                    'Which person of a frame with several.')
  flags.DEFINE_float('min_score', 0.0, 'A joint with this confidence or less is missing.')
  flags.DEFINE_list('image_size', None, 'HEIGHT,WIDTH when detections are in [0, 1] units '
                    '(MediaPipe\'s normalised landmarks).')
  cli.register_check('image_size', pose_inputs.parse_image_size)
  flags.DEFINE_integer('frame_stride', 1, 'Use every n-th frame.', lower_bound=1)
  flags.DEFINE_integer('records_per_shard', shards.DEFAULT_RECORDS_PER_SHARD, 'Shard size.')
  flags.DEFINE_boolean('overwrite', False, 'Replace the records of an earlier run.')


def main(argv):
  del argv
  if not FLAGS.rig or not FLAGS.output_dir:
    raise app.UsageError('--rig and --output_dir are required.')

  def convert():
    return rig_dataset.convert(rig_dataset.RigConfig(
        rigs=FLAGS.rig, output_dir=FLAGS.output_dir, format=FLAGS.format, layout=FLAGS.layout,
        person=FLAGS.person, min_score=FLAGS.min_score,
        image_size=pose_inputs.parse_image_size(FLAGS.image_size),
        frame_stride=FLAGS.frame_stride, records_per_shard=FLAGS.records_per_shard,
        overwrite=FLAGS.overwrite))

  converter_cli.run(convert)


if __name__ == '__main__':
  cli.run(main, define_flags)
