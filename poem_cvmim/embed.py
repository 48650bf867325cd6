r"""Embeds keypoints from a .npy or .csv file with an exported SavedModel.

  python -m poem_cvmim.embed --saved_model=runs/cvmim/saved_model \
      --input=poses.npy --output=embeddings.npy [--image_size=1080,1920]

Input: (y, x) keypoints in LEGACY_2DCOCO13 order, either a .npy array [N, 13, 2] or a .csv with
26 numbers a row (y0, x0, y1, x1, ...; a non-numeric first row is a header). Coordinates are
pixels, or normalised to [0, 1] by the image size given with --image_size=HEIGHT,WIDTH, or
already profile-normalised with --normalized. Output: .npy holding [N, Dp + Dv] (pose first)
or .csv with a header pose_0 ... view_0 ...; --pose_only keeps z_p.
"""

import os
import sys

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

NUM_JOINTS = 13


def read_keypoints(path: str) -> np.ndarray:
  """[N, 13, 2] float32 from .npy or .csv; a clear error names the file and row."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'No such input file: {path}')
  if path.endswith('.npy'):
    points = np.load(path)
  elif path.endswith('.csv'):
    with open(path) as f:
      lines = [line.strip() for line in f if line.strip()]
    rows = []
    for number, line in enumerate(lines, start=1):
      try:
        rows.append([float(v) for v in line.split(',')])
      except ValueError:
        if number == 1:
          continue  # header
        raise ValueError(f'{path}:{number}: not a row of numbers: {line[:60]!r}') from None
      if len(rows[-1]) != 2 * NUM_JOINTS:
        raise ValueError(f'{path}:{number}: {len(rows[-1])} values, expected '
                         f'{2 * NUM_JOINTS} (y, x for 13 joints).')
    points = np.array(rows).reshape(-1, NUM_JOINTS, 2)
  else:
    raise ValueError(f'{path}: use a .npy or .csv file.')
  if points.ndim != 3 or points.shape[1:] != (NUM_JOINTS, 2):
    raise ValueError(f'{path}: shape {points.shape}, expected [N, {NUM_JOINTS}, 2].')
  return points.astype(np.float32)


def embed(saved_model_dir: str, points: np.ndarray, image_size=None, normalized=False):
  """(pose [N, Dp], view [N, Dv]) from the SavedModel's signatures."""
  model = tf.saved_model.load(saved_model_dir)
  if normalized:
    outputs = model.signatures['embed_normalized'](keypoints=tf.constant(points))
  else:
    sizes = np.ones((len(points), 2), np.float32) if image_size is None else np.tile(
        np.asarray(image_size, np.float32), (len(points), 1))
    outputs = model.signatures['serving_default'](keypoints=tf.constant(points),
                                                  image_sizes=tf.constant(sizes))
  return outputs['pose_embedding'].numpy(), outputs['view_embedding'].numpy()


def write_embeddings(path: str, pose: np.ndarray, view: np.ndarray) -> None:
  data = np.concatenate([pose, view], axis=-1)
  if path.endswith('.npy'):
    np.save(path, data)
  elif path.endswith('.csv'):
    header = [f'pose_{i}' for i in range(pose.shape[1])] + [f'view_{i}'
                                                            for i in range(view.shape[1])]
    np.savetxt(path, data, delimiter=',', header=','.join(header), comments='', fmt='%.7g')
  else:
    raise ValueError(f'{path}: use a .npy or .csv file.')


FLAGS = flags.FLAGS
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
    points = read_keypoints(FLAGS.input)
    size = [float(v) for v in FLAGS.image_size] if FLAGS.image_size else None
    pose, view = embed(FLAGS.saved_model, points, size, FLAGS.normalized)
    write_embeddings(FLAGS.output, pose, view[:, :0] if FLAGS.pose_only else view)
  except (FileNotFoundError, ValueError) as error:
    sys.exit(f'error: {error}')
  print(f'Wrote {len(pose)} embeddings ({pose.shape[1]} pose + '
        f'{0 if FLAGS.pose_only else view.shape[1]} view dims) to {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
