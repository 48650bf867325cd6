"""Pair records from a user's own synchronised cameras (data_prep/README.md, "Your own rig").

A recording is a folder with one sub-folder or .json file of detector output per camera
(`core/detections.py` reads OpenPose, COCO results, MMPose and MediaPipe BlazePose); the same
frame number in two cameras is the same instant. Every frame (every `frame_stride`-th) becomes
one pair record per ordered pair of cameras: C cameras give C (C - 1) records a frame, with
the metadata temporal mining reads (clip = the recording's path, frame index, camera names,
subject = the recording's folder name). No calibration: train with
`--model_input_keypoint_type=2D_INPUT`.

3D for a few frames (motion capture of some takes, for MCSS's 3D head): a recording folder may
hold `poses_3d.npz` with `frames` [N] (frame numbers of the detections) and `poses_3d`
[N, 17, 3] (x, y, z, Human3.6M's 17 joints in `LEGACY_3DH36M17` order, any world frame and
unit). When any recording has one, every record holds 3D: those poses, zeros elsewhere (a
record of zeros has no 3D: MCSS leaves it out of its 3D loss).

Missing joints are filled as for retrieval (`detections.fill_missing`) and keep confidence 0.
Keypoints are stored in [0, 1] units of the image: of `image_size` where given, else of each
camera's extent of the detections (the profile normalisation removes the scale, so the exact
image size does not matter; only the aspect of the pixels is kept).
"""

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from poem_cvmim.core import detections
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import records
from poem_cvmim.core import shards

DATASET = 'rig_pairs'
SPLIT = 'train'
POSES_3D_FILE = 'poses_3d.npz'
_JOINTS_3D = keypoints.get_profile(keypoints.LEGACY_3DH36M17).keypoint_num


@dataclasses.dataclass(frozen=True)
class RigConfig:
  rigs: Sequence[str]
  output_dir: str
  format: str = 'auto'
  layout: Optional[str] = None
  person: str = 'most_confident'
  min_score: float = 0.0
  image_size: Optional[tuple] = None
  frame_stride: int = 1
  records_per_shard: int = shards.DEFAULT_RECORDS_PER_SHARD
  overwrite: bool = False

  def __post_init__(self):
    if not self.rigs:
      raise errors.InputError('No recording folder given (--rig).')
    if self.frame_stride < 1:
      raise errors.InputError(f'frame_stride must be >= 1, got {self.frame_stride}.')


@dataclasses.dataclass
class Camera:
  name: str
  points: np.ndarray  # [N, 13, 2] (y, x) in [0, 1] units of `image_size`
  scores: np.ndarray  # [N, 13], 0 where the joint was missing and filled
  frames: np.ndarray  # [N]
  image_size: tuple  # (height, width) in pixels


def _span(frames) -> str:
  return f'{len(frames)} frames ({frames[0]}-{frames[-1]})' if len(frames) else 'no frames'


def read_recording(directory: str, config: RigConfig) -> list:
  """The cameras of one recording, checked: every camera has the same frame numbers."""
  cameras = []
  for name, path in detections.rig_cameras(directory).items():
    track = detections.read_track(path, config.format, config.layout, config.person)
    points, missing = detections.fill_missing(track, config.min_score)
    detections.normalize(points, config.image_size, path)  # checks units and poses
    pixels = pose_inputs.to_pixels(points, config.image_size, path)
    size = (tuple(int(v) for v in config.image_size) if config.image_size else
            tuple(int(np.ceil(v)) + 1 for v in pixels.reshape(-1, 2).max(axis=0)))
    scores = np.where(missing, 0.0, track.scores)
    cameras.append(Camera(name, pixels / np.asarray(size, np.float64), scores, track.frames,
                          size))
  frames = [tuple(c.frames) for c in cameras]
  if len(set(frames)) > 1:
    described = ', '.join(f'{c.name} {_span(c.frames)}' for c in cameras)
    raise errors.InputError(f'{directory}: the cameras disagree on the frames ({described}); '
                            'synchronised cameras give every frame number in each camera.')
  return cameras


def read_poses_3d(directory: str, frames) -> Optional[dict]:
  """{frame: [17, 3] (y, x, z) as records store it} from the recording's `POSES_3D_FILE`, or
  None without one; one-line errors for a malformed file or frames the cameras do not have."""
  path = os.path.join(directory, POSES_3D_FILE)
  if not os.path.exists(path):
    return None
  try:
    with np.load(path) as data:
      numbers, poses = np.asarray(data['frames']), np.asarray(data['poses_3d'], np.float64)
  except (KeyError, ValueError, OSError) as error:
    raise errors.InputError(f'{path}: not an .npz with arrays "frames" and "poses_3d" ({error}).'
                            ) from None
  if poses.shape != (len(numbers), _JOINTS_3D, 3) or numbers.ndim != 1:
    raise errors.InputError(f'{path}: poses_3d has shape {poses.shape} for {numbers.shape} frames; '
                            f'expected [N, {_JOINTS_3D}, 3] and frames [N].')
  if not np.all(np.isfinite(poses)):
    raise errors.InputError(f'{path}: poses_3d holds NaN or infinite values.')
  unknown = sorted(set(numbers.tolist()) - set(np.asarray(frames).tolist()))
  if unknown:
    raise errors.InputError(f'{path}: frames {unknown[:5]} are not among the cameras\' frames.')
  return {int(n): pose[:, [1, 0, 2]] for n, pose in zip(numbers, poses)}


def pair_records(directory: str, cameras: list, frame_stride: int = 1, poses_3d=None):
  """Yields the serialized pair records of one recording: each frame, each ordered pair.
  `poses_3d`: None (records without 3D) or {frame: [17, 3]} (other frames get zeros)."""
  clip = os.path.normpath(directory)
  subject = os.path.basename(clip)
  none = np.zeros((_JOINTS_3D, 3))
  for row in range(0, len(cameras[0].frames), frame_stride):
    frame = int(cameras[0].frames[row])
    pose_3d = None if poses_3d is None else np.stack([poses_3d.get(frame, none)] * 2)
    for a in cameras:
      for b in cameras:
        if a is b:
          continue
        yield records.serialize(records.make_example(
            [a.image_size, b.image_size], np.stack([a.points[row], b.points[row]]),
            np.stack([a.scores[row], b.scores[row]]), keypoints_3d=pose_3d,
            profile_3d=None if poses_3d is None else keypoints.LEGACY_3DH36M17,
            metadata={'subject': [subject] * 2, 'camera': [a.name, b.name],
                      'frame_index': [frame] * 2, 'source_id': clip}))


def convert(config: RigConfig, log=print) -> dict:
  """Writes the pair records of every recording to `config.output_dir`; returns the manifest."""
  recordings = [(rig, read_recording(rig, config)) for rig in config.rigs]  # all checked first
  poses_3d = {rig: read_poses_3d(rig, cameras[0].frames) for rig, cameras in recordings}
  with_3d = any(p is not None for p in poses_3d.values())
  with shards.DatasetWriter(config.output_dir, DATASET, sources=list(config.rigs),
                            records_per_shard=config.records_per_shard,
                            overwrite=config.overwrite) as writer:
    for rig, cameras in recordings:
      count = 0
      known = (poses_3d[rig] or {}) if with_3d else None
      for serialized in pair_records(rig, cameras, config.frame_stride, known):
        writer.write(serialized, SPLIT)
        count += 1
      log(f'[detections] {rig}: {len(cameras)} cameras, {len(cameras[0].frames)} frames'
          + (f' ({len(known)} with 3D)' if with_3d else '') + f', {count} pair records')
    extra = {'cameras': {rig: [c.name for c in cameras] for rig, cameras in recordings}}
    if with_3d:
      extra['frames_with_3d'] = {rig: len(p or {}) for rig, p in poses_3d.items()}
    return writer.close(extra)
