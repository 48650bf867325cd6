"""Exports a trained encoder as a SavedModel that plain TensorFlow can load.

Signatures (inputs are (y, x) keypoints in LEGACY_2DCOCO13 order, float32):
  serving_default(keypoints [N, 13, 2], image_sizes [N, 2])
      keypoints normalised to [0, 1] by image (height, width) as in the records, with the image
      sizes; for pixel coordinates pass image_sizes = 1. They are profile-normalised inside.
  embed_normalized(keypoints [N, 13, 2])
      keypoints already profile-normalised (poem_cvmim.core.keypoints ... .normalize).
Both return {'pose_embedding': [N, Dp], 'view_embedding': [N, Dv]} (Dv = 0 for ALIGN and
PR_VIPE, whose pose embedding is the mean of its Gaussian).
"""

import os

import keras
import tensorflow as tf

from poem_cvmim.core import keypoints

SERVING_SIGNATURE = 'serving_default'
NORMALIZED_SIGNATURE = 'embed_normalized'
POSE_EMBEDDING = 'pose_embedding'
VIEW_EMBEDDING = 'view_embedding'


def export_encoder(algorithm, profile_2d: str, export_dir: str) -> None:
  """Writes `algorithm.encoder` with the two signatures above to `export_dir`; the
  embeddings are `algorithm.embed`'s, which reads only the encoder's variables."""
  profile = keypoints.get_profile(profile_2d)
  num_joints = profile.keypoint_num
  encoder = algorithm.encoder

  def embed_normalized(points):
    pose, view = algorithm.embed(points)
    return {POSE_EMBEDDING: pose, VIEW_EMBEDDING: view}

  def serve(points, image_sizes):
    normalized, _, _ = profile.normalize(keypoints.to_pixels(points, image_sizes))
    return embed_normalized(normalized)

  archive = keras.export.ExportArchive()
  archive.track(encoder)
  points_spec = tf.TensorSpec([None, num_joints, 2], tf.float32, name='keypoints')
  archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[
      points_spec, tf.TensorSpec([None, 2], tf.float32, name='image_sizes')])
  archive.add_endpoint(NORMALIZED_SIGNATURE, embed_normalized, input_signature=[points_spec])
  os.makedirs(export_dir, exist_ok=True)  # a path through a file: the OS names it, one line
  archive.write_out(export_dir, verbose=False)


class ExportedEncoder:
  """An exported encoder opened for inference: its two signatures, by the names above."""

  def __init__(self, export_dir: str):
    self._model = tf.saved_model.load(export_dir)  # kept alive: the signatures use it
    self._normalized = self._model.signatures[NORMALIZED_SIGNATURE]
    self._serve = self._model.signatures[SERVING_SIGNATURE]

  def embed_normalized(self, points) -> tuple:
    """(pose, view) embeddings of profile-normalised poses [N, J, 2]."""
    outputs = self._normalized(keypoints=tf.cast(points, tf.float32))
    return outputs[POSE_EMBEDDING], outputs[VIEW_EMBEDDING]

  def embed(self, points, image_sizes) -> tuple:
    """(pose, view) embeddings of (y, x) keypoints [N, J, 2] in [0, 1] of images of
    (height, width) `image_sizes` [N, 2]."""
    outputs = self._serve(keypoints=tf.cast(points, tf.float32),
                          image_sizes=tf.cast(image_sizes, tf.float32))
    return outputs[POSE_EMBEDDING], outputs[VIEW_EMBEDDING]

