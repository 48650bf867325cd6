"""Pose files in and embedding files out, through an exported SavedModel.

Input: (y, x) keypoints in LEGACY_2DCOCO13 order, a .npy array [N, 13, 2] or a .csv with 26
numbers a row (y0, x0, y1, x1, ...; a non-numeric first row is a header). Output: .npy holding
[N, Dp + Dv] (pose first) or .csv with a header pose_0 ... view_0 ....
"""

import os

import numpy as np
import tensorflow as tf

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.representation import export

NUM_JOINTS = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).keypoint_num


def read_keypoints(path: str) -> np.ndarray:
  """[N, 13, 2] float32 from .npy or .csv; a clear error names the file and row."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'No such input file: {path}')
  if path.endswith('.npy'):
    try:
      points = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
      raise errors.InputError(f'{path}: not a readable .npy array ({error}).') from None
  elif path.endswith('.csv'):
    with open(path, encoding='utf-8', errors='strict') as f:
      lines = [line.strip() for line in f if line.strip()]
    rows = []
    for number, line in enumerate(lines, start=1):
      try:
        rows.append([float(v) for v in line.split(',')])
      except ValueError:
        if number == 1 and not any(_is_number(v) for v in line.split(',')):
          continue  # a header: no field is a number
        raise errors.InputError(f'{path}:{number}: not a row of numbers: {line[:60]!r}') from None
      if len(rows[-1]) != 2 * NUM_JOINTS:
        raise errors.InputError(f'{path}:{number}: {len(rows[-1])} values, expected '
                                f'{2 * NUM_JOINTS} (y, x for {NUM_JOINTS} joints).')
    points = np.array(rows).reshape(-1, NUM_JOINTS, 2)
  else:
    raise errors.InputError(f'{path}: use a .npy or .csv file.')
  if points.ndim != 3 or points.shape[1:] != (NUM_JOINTS, 2):
    raise errors.InputError(f'{path}: shape {points.shape}, expected [N, {NUM_JOINTS}, 2].')
  if not len(points):
    raise errors.InputError(f'{path}: no poses in the file.')
  bad = np.flatnonzero(~np.isfinite(points).all(axis=(1, 2)))
  if len(bad):
    raise errors.InputError(f'{path}: pose {bad[0]} (0-based; {len(bad)} in all) holds NaN or Inf '
                            'keypoints; fill or drop them before embedding.')
  return points.astype(np.float32)


def _is_number(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return False
  return True


def embed(saved_model_dir: str, points: np.ndarray, image_size=None, normalized=False):
  """(pose [N, Dp], view [N, Dv]) from the SavedModel's signatures."""
  model = export.ExportedEncoder(saved_model_dir)
  if normalized:
    pose, view = model.embed_normalized(tf.constant(points))
  else:
    sizes = np.ones((len(points), 2), np.float32) if image_size is None else np.tile(
        np.asarray(image_size, np.float32), (len(points), 1))
    pose, view = model.embed(tf.constant(points), tf.constant(sizes))
  return pose.numpy(), view.numpy()


def write_embeddings(path: str, pose: np.ndarray, view: np.ndarray, frames=None) -> None:
  """[N, Dp + Dv] to .npy (frame numbers, when given, to <path>_frames.npy) or .csv (a first
  column `frame` when given)."""
  data = np.concatenate([pose, view], axis=-1)
  if path.endswith('.npy'):
    np.save(path, data)
    if frames is not None:
      np.save(path[:-len('.npy')] + '_frames.npy', np.asarray(frames))
  elif path.endswith('.csv'):
    header = [f'pose_{i}' for i in range(pose.shape[1])] + [f'view_{i}'
                                                            for i in range(view.shape[1])]
    if frames is not None:
      header, data = ['frame'] + header, np.concatenate(
          [np.asarray(frames, np.float64)[:, None], data], axis=-1)
    np.savetxt(path, data, delimiter=',', header=','.join(header), comments='', fmt='%.7g')
  else:
    raise errors.InputError(f'{path}: use a .npy or .csv file.')
