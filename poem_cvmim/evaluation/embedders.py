"""Embedders map profile-normalised poses [N, J, 2] to per-frame features [N, D].

- `raw`: the normalised keypoints flattened (26 values), the raw-keypoint baseline;
- a training directory (config.json + checkpoints): the encoder's z_p (ALIGN: all dims; PR_VIPE:
  its Gaussian's mean),
  restored with `poem_cvmim.representation.restore`;
- an exported SavedModel directory: its `embed_normalized` signature's pose embedding.
"""

import dataclasses
import os
from typing import Callable, Optional

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import lazy_tensorflow

tf = lazy_tensorflow.deferred


RAW = 'raw'
_NUM_JOINTS = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).keypoint_num


@dataclasses.dataclass(frozen=True)
class Embedder:
  name: str
  dim: int
  fn: Callable  # normalised poses [N, J, 2] float32 -> [N, dim]
  # normalised poses -> the view embedding [N, Dv] (None: the embedder has none, as `raw`)
  view_fn: Optional[Callable] = None


def load_embedder(source: str) -> Embedder:
  """`raw`, a training directory or a SavedModel directory (see the module docstring)."""
  # Imported here: the embedder names (RAW) are read by commands that must not load TensorFlow.
  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import export
  from poem_cvmim.representation import restore
  # pylint: enable=g-import-not-at-top
  if source == RAW:
    return Embedder(RAW, 2 * _NUM_JOINTS, lambda x: tf.reshape(x, [tf.shape(x)[0], -1]))
  if os.path.exists(os.path.join(source, 'saved_model.pb')):
    exported = export.ExportedEncoder(source)
    fn = lambda x: exported.embed_normalized(x)[0]
    view_fn = lambda x: exported.embed_normalized(x)[1]
    dim = int(fn(tf.zeros([1, _NUM_JOINTS, 2])).shape[-1])
    return Embedder(source, dim, fn, view_fn)
  if os.path.exists(os.path.join(source, restore.CONFIG_NAME)):
    algorithm, _, step = restore.load_algorithm(source)
    # reduce_retracing: batches of any size share one trace after the second size.
    encode = tf.function(lambda x: algorithm.embed(x)[0], reduce_retracing=True)
    encode_view = tf.function(lambda x: algorithm.embed(x)[1], reduce_retracing=True)
    return Embedder(f'{source}@{step}', algorithm.pose_dim, encode, encode_view)
  raise errors.InputError(f'Embedder {source!r} is neither {RAW!r}, a training directory '
                          f'(with {restore.CONFIG_NAME}) nor a SavedModel directory.')


