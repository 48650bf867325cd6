"""3D from one 2D view, scored: MPJPE and Procrustes-aligned MPJPE of a pose head's output
(MCSS, docs/mcss.md) per camera and their mean.

Frames come from the retrieval loaders (evaluation/retrieval.py): sequence records with several
views and 3D, or pair records. Errors are in normalised 3D units (the 3D profile's
normalisation: hip-centred, hip-spine-thorax length 1; about 0.5 m on a Human3.6M subject), the
MPJPE in the body frame (representation/lifting.py), the aligned one after the best similarity
transform of the prediction onto the truth.
"""

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import procrustes

tf = lazy_tensorflow.deferred

PROFILE_3D = keypoints.LEGACY_3DH36M17  # what the retrieval loaders' 3D poses are in
_BLOCK = 4096  # frames per call of the head


def lifting_errors(lift, poses_2d, poses_3d) -> dict:
  """{'mpjpe': [N], 'pa_mpjpe': [N]} of `lift` (normalised 2D [n, J, 2] -> normalised 3D in
  the body frame [n, 17, 3]) on normalised 2D poses [N, J, 2] with normalised 3D truth
  [N, 17, 3] (any orientation: the truth is rotated into its body frame)."""
  # Imported here: the command's --help must not load TensorFlow.
  from poem_cvmim.representation import lifting  # pylint: disable=g-import-not-at-top
  predicted = np.concatenate([np.asarray(lift(tf.constant(poses_2d[i:i + _BLOCK], tf.float32)))
                              for i in range(0, len(poses_2d), _BLOCK)]).astype(np.float64)
  truth = lifting.body_frame(tf.constant(poses_3d, tf.float64), PROFILE_3D)
  return {'mpjpe': lifting.mpjpe(tf.constant(predicted), truth).numpy(),
          'pa_mpjpe': procrustes.procrustes_aligned_mpjpe(truth, tf.constant(predicted)).numpy()}


def evaluate(lift, frames_by_view: dict) -> dict:
  """{'views': {view: {'frames', 'mpjpe', 'pa_mpjpe'}}, 'mean': {'mpjpe', 'pa_mpjpe'}}: the
  mean errors of each view's frames and the mean over views (each view weighs the same)."""
  views = {}
  for view in sorted(frames_by_view):
    frames = frames_by_view[view]
    if not frames.has_3d:
      raise errors.InputError(f'View {view!r} has no 3D poses to score the 3D against.')
    result = lifting_errors(lift, frames.poses, frames.poses_3d)
    views[view] = {'frames': len(frames),
                   **{name: float(np.mean(values)) for name, values in result.items()}}
  mean = {name: float(np.mean([v[name] for v in views.values()]))
          for name in ('mpjpe', 'pa_mpjpe')}
  return {'views': views, 'mean': mean}


def markdown(results_by_run: dict) -> str:
  """One table: a row per run and camera (and the mean), MPJPE and aligned MPJPE."""
  lines = ['| run | camera | frames | MPJPE | PA-MPJPE |', '|---|---|---|---|---|']
  for run, result in results_by_run.items():
    for view, values in result['views'].items():
      lines.append(f'| {run} | {view} | {values["frames"]} | {values["mpjpe"]:.3f} | '
                   f'{values["pa_mpjpe"]:.3f} |')
    lines.append(f'| {run} | mean | | {result["mean"]["mpjpe"]:.3f} | '
                 f'{result["mean"]["pa_mpjpe"]:.3f} |')
  return '\n'.join(lines) + ('\n\nNormalised 3D units (hip-spine-thorax length 1); MPJPE in the '
                             'body frame, PA-MPJPE after Procrustes alignment.\n')
