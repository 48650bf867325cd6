r"""Exports a trained encoder as a SavedModel that plain TensorFlow can load.

  python -m poem_cvmim.export --log_dir_path=runs/cvmim --export_dir=runs/cvmim/saved_model

Signatures (inputs are (y, x) keypoints in LEGACY_2DCOCO13 order, float32):
  serving_default(keypoints [N, 13, 2], image_sizes [N, 2])
      keypoints normalised to [0, 1] by image (height, width) as in the records, with the image
      sizes; for pixel coordinates pass image_sizes = 1. They are profile-normalised inside.
  embed_normalized(keypoints [N, 13, 2])
      keypoints already profile-normalised (poem_cvmim.keypoints ... .normalize).
Both return {'pose_embedding': [N, Dp], 'view_embedding': [N, Dv]} (Dv = 0 for ALIGN).
"""

import sys

from absl import app
from absl import flags
import keras
import tensorflow as tf

from poem_cvmim import keypoints
from poem_cvmim import trainer

SERVING_SIGNATURE = 'serving_default'
NORMALIZED_SIGNATURE = 'embed_normalized'
POSE_EMBEDDING = 'pose_embedding'
VIEW_EMBEDDING = 'view_embedding'


def export_encoder(algorithm, profile_2d: str, export_dir: str) -> None:
  """Writes `algorithm.encoder` with the two signatures above to `export_dir`."""
  profile = keypoints.get_profile(profile_2d)
  num_joints = profile.keypoint_num
  encoder, pose_dim = algorithm.encoder, algorithm.pose_dim

  def embed_normalized(points):
    outputs, _ = encoder(points, training=False)
    return {POSE_EMBEDDING: outputs[:, :pose_dim], VIEW_EMBEDDING: outputs[:, pose_dim:]}

  def serve(points, image_sizes):
    pixels = points * tf.cast(image_sizes, points.dtype)[:, tf.newaxis, :]
    normalized, _, _ = profile.normalize(pixels)
    return embed_normalized(normalized)

  archive = keras.export.ExportArchive()
  archive.track(encoder)
  points_spec = tf.TensorSpec([None, num_joints, 2], tf.float32, name='keypoints')
  archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[
      points_spec, tf.TensorSpec([None, 2], tf.float32, name='image_sizes')])
  archive.add_endpoint(NORMALIZED_SIGNATURE, embed_normalized, input_signature=[points_spec])
  archive.write_out(export_dir, verbose=False)


FLAGS = flags.FLAGS
flags.DEFINE_string('log_dir_path', None, 'Training directory (config.json and checkpoints).')
flags.DEFINE_string('checkpoint', None, 'A checkpoint path (default: the latest).')
flags.DEFINE_string('export_dir', None, 'Where to write the SavedModel.')


def main(argv):
  del argv
  if not FLAGS.log_dir_path or not FLAGS.export_dir:
    raise app.UsageError('--log_dir_path and --export_dir are required.')
  try:
    algorithm, config, step = trainer.load_algorithm(FLAGS.log_dir_path, FLAGS.checkpoint)
  except (FileNotFoundError, ValueError) as error:
    sys.exit(f'error: {error}')
  export_encoder(algorithm, config.profile_2d, FLAGS.export_dir)
  print(f'Exported the encoder of step {step} to {FLAGS.export_dir}')


if __name__ == '__main__':
  app.run(main)
