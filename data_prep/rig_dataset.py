"""Pair records from a user's own synchronised cameras (data_prep/README.md, "Your own rig").

A recording is a folder with one sub-folder or .json file of detector output per camera
(`core/detections.py` reads OpenPose, COCO results, MMPose and MediaPipe BlazePose); the same
frame number in two cameras is the same instant. Every frame (every `frame_stride`-th) becomes
one pair record per ordered pair of cameras: C cameras give C (C - 1) records a frame, with
the metadata temporal mining reads (clip = the recording's path, frame index, camera names,
subject = the recording's folder name). No 3D and no calibration: train with
`--model_input_keypoint_type=2D_INPUT`.

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
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import records
from poem_cvmim.core import shards

DATASET = 'rig_pairs'
SPLIT = 'train'


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


def pair_records(directory: str, cameras: list, frame_stride: int = 1):
  """Yields the serialized pair records of one recording: each frame, each ordered pair."""
  clip = os.path.normpath(directory)
  subject = os.path.basename(clip)
  for row in range(0, len(cameras[0].frames), frame_stride):
    frame = int(cameras[0].frames[row])
    for a in cameras:
      for b in cameras:
        if a is b:
          continue
        yield records.serialize(records.make_example(
            [a.image_size, b.image_size], np.stack([a.points[row], b.points[row]]),
            np.stack([a.scores[row], b.scores[row]]), profile_3d=None,
            metadata={'subject': [subject] * 2, 'camera': [a.name, b.name],
                      'frame_index': [frame] * 2, 'source_id': clip}))


def convert(config: RigConfig, log=print) -> dict:
  """Writes the pair records of every recording to `config.output_dir`; returns the manifest."""
  recordings = [(rig, read_recording(rig, config)) for rig in config.rigs]  # all checked first
  with shards.DatasetWriter(config.output_dir, DATASET, sources=list(config.rigs),
                            records_per_shard=config.records_per_shard,
                            overwrite=config.overwrite) as writer:
    for rig, cameras in recordings:
      count = 0
      for serialized in pair_records(rig, cameras, config.frame_stride):
        writer.write(serialized, SPLIT)
        count += 1
      log(f'[detections] {rig}: {len(cameras)} cameras, {len(cameras[0].frames)} frames, '
          f'{count} pair records')
    return writer.close({'cameras': {rig: [c.name for c in cameras]
                                     for rig, cameras in recordings}})
