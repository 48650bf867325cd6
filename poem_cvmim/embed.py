r"""Embeds keypoints from a .npy or .csv file with an exported SavedModel.

  python -m poem_cvmim.embed --saved_model=runs/cvmim/saved_model \
      --input=poses.npy --output=embeddings.npy [--image_size=1080,1920]

Input: (y, x) keypoints in LEGACY_2DCOCO13 order, either a .npy array [N, 13, 2] or a .csv with
26 numbers a row (y0, x0, y1, x1, ...; a non-numeric first row is a header). Coordinates are
pixels, or normalised to [0, 1] by the image size given with --image_size=HEIGHT,WIDTH, or
already profile-normalised with --normalized. Output: .npy holding [N, Dp + Dv] (pose first)
or .csv with a header pose_0 ... view_0 ...; --pose_only keeps z_p.
"""


from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.evaluation import pose_files

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('saved_model', None, 'Directory written by poem_cvmim.export.')
  flags.DEFINE_string('input', None, '.npy [N, 13, 2] or .csv (26 numbers a row) of (y, x).')
  flags.DEFINE_string('output', None, '.npy or .csv to write.')
  flags.DEFINE_list('image_size', None, 'HEIGHT,WIDTH when the input is normalised to [0, 1].')
  flags.DEFINE_boolean('normalized', False, 'The input is already profile-normalised.')
  flags.DEFINE_boolean('pose_only', False, 'Write z_p only.')


def main(argv):
  del argv
  if not (FLAGS.saved_model and FLAGS.input and FLAGS.output):
    raise app.UsageError('--saved_model, --input and --output are required.')
  try:
    points = pose_files.read_keypoints(FLAGS.input)
    size = [float(v) for v in FLAGS.image_size] if FLAGS.image_size else None
    pose, view = pose_files.embed(FLAGS.saved_model, points, size, FLAGS.normalized)
    pose_files.write_embeddings(FLAGS.output, pose, view[:, :0] if FLAGS.pose_only else view)
  except (FileNotFoundError, ValueError) as error:
    cli.fail(error)
  print(f'Wrote {len(pose)} embeddings ({pose.shape[1]} pose + '
        f'{0 if FLAGS.pose_only else view.shape[1]} view dims) to {FLAGS.output}')


if __name__ == '__main__':
  cli.run(main, define_flags)
