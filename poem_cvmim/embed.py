r"""Embeds keypoints from a .npy or .csv file, or one camera's detector output, with an
exported SavedModel.

  python -m poem_cvmim.embed --saved_model=runs/cvmim/saved_model \
      --input=poses.npy --output=embeddings.npy [--image_size=1080,1920]
  python -m poem_cvmim.embed --saved_model=runs/cvmim/saved_model \
      --input=openpose_json_folder/ --output=embeddings.csv

Input: (y, x) keypoints in LEGACY_2DCOCO13 order, either a .npy array [N, 13, 2] or a .csv with
26 numbers a row (y0, x0, y1, x1, ...; a non-numeric first row is a header). Coordinates are
pixels, or normalised to [0, 1] by the image size given with --image_size=HEIGHT,WIDTH, or
already profile-normalised with --normalized. Or detector output of one camera
(core/detections.py): a folder of OpenPose / MMPose per-frame JSON files, or a COCO
results / MMPose predictions .json; one person a frame (--person), missing joints filled as
the encoder expects; a row per frame in frame order. Output: .npy holding [N, Dp + Dv] (pose
first; for detector input the frame numbers go to <output>_frames.npy) or .csv with a header
pose_0 ... view_0 ... (for detector input a first column `frame`); --pose_only keeps z_p.
"""


import os

from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import detections

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('saved_model', None, 'Directory written by poem_cvmim.export.')
  flags.DEFINE_string('input', None, '.npy [N, 13, 2] or .csv (26 numbers a row) of (y, x), '
                      'or one camera\'s detector output (a JSON folder or file).')
  flags.DEFINE_string('output', None, '.npy or .csv to write.')
  flags.DEFINE_list('image_size', None, 'HEIGHT,WIDTH when the input is normalised to [0, 1].')
  cli.register_check('image_size', pose_inputs.parse_image_size)
  flags.DEFINE_boolean('normalized', False, 'The input is already profile-normalised.')
  flags.DEFINE_boolean('pose_only', False, 'Write z_p only.')
  flags.DEFINE_enum('format', 'auto', detections.FORMATS, 'Detector output format.')
  flags.DEFINE_enum('layout', None, list(detections.LAYOUTS), 'OpenPose joint layout.')
  flags.DEFINE_enum('person', 'most_confident', detections.PERSON_RULES,
                    'Which person of a frame with several.')
  flags.DEFINE_float('min_score', 0.0, 'A joint with this confidence or less is missing.')


def main(argv):
  del argv
  # Imported here, not at the top: --help must not load TensorFlow.
  from poem_cvmim.evaluation import pose_files  # pylint: disable=g-import-not-at-top
  if not (FLAGS.saved_model and FLAGS.input and FLAGS.output):
    raise app.UsageError('--saved_model, --input and --output are required.')
  size = pose_inputs.parse_image_size(FLAGS.image_size)
  frames = None
  if os.path.isdir(FLAGS.input) or FLAGS.input.endswith('.json'):
    track = detections.read_track(FLAGS.input, FLAGS.format, FLAGS.layout, FLAGS.person)
    points = detections.normalize(detections.fill_missing(track, FLAGS.min_score)[0], size,
                                  FLAGS.input)
    frames = track.frames
  else:
    points = pose_files.read_keypoints(FLAGS.input)
    if not FLAGS.normalized:  # the same checks and normalisation as detector output
      points = detections.normalize(points, size, FLAGS.input)
  pose, view = pose_files.embed(FLAGS.saved_model, points, normalized=True)
  pose_files.write_embeddings(FLAGS.output, pose, view[:, :0] if FLAGS.pose_only else view,
                              frames)
  print(f'Wrote {len(pose)} embeddings ({pose.shape[1]} pose + '
        f'{0 if FLAGS.pose_only else view.shape[1]} view dims) to {FLAGS.output}')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
