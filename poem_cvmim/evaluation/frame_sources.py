"""Where retrieval's frames come from: `{camera: Frames}` loaded from sequence records with
several synchronised views of each clip (with 3D for the synthetic retrieval parts), from pair
records (each camera of a pair is a view), or from recordings of detector output
(`core/detections.py`); `evaluation/retrieval.py` scores them.
"""

import glob
import os

import numpy as np

from poem_cvmim.core import detections
from poem_cvmim.core import errors
from poem_cvmim.core import frames as frames_lib
from poem_cvmim.core import keypoints
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import records
from poem_cvmim.core import shards

tf = lazy_tensorflow.deferred
Frames = frames_lib.Frames


def clip_id(source_id: str, view: str) -> str:
  """The performance a view's clip shows: its source id without the trailing `_<view>`."""
  suffix = f'_{view}'
  return source_id[:-len(suffix)] if source_id.endswith(suffix) else source_id


def normalized_3d(points_3d: np.ndarray) -> np.ndarray:
  """17-joint 3D poses [..., 17, 3] normalised by their profile (hip-centred, spine unit), the
  space of the NP-MPJPE threshold."""
  normalized, _, _ = keypoints.get_profile(keypoints.LEGACY_3DH36M17).normalize(
      np.asarray(points_3d, np.float64))
  return normalized


def root_relative_3d(points_3d: np.ndarray) -> np.ndarray:
  """17-joint 3D poses [..., 17, 3] minus their hip (`LEGACY_3DH36M17` 'Hip'), in their unit."""
  points_3d = np.asarray(points_3d, np.float64)
  hip = keypoints.get_profile(keypoints.LEGACY_3DH36M17).keypoint_names.index('Hip')
  return points_3d - points_3d[..., hip:hip + 1, :]


def load_multiview_frames(sequence_dir: str, split: str, frame_stride: int = 1,
                          profile_2d: str = keypoints.LEGACY_2DCOCO13,
                          with_3d: bool = False) -> dict:
  """Every `frame_stride`-th real (not replayed) frame of each view of one split.

  Returns {view: `Frames`} (with `poses_3d` and `poses_3d_mm` when `with_3d`: the records
  must hold 3D).
  """
  manifest = shards.read_manifest(sequence_dir)
  length = manifest['sequence_length']
  parse = records.sequence_parser(length, profile_2d=profile_2d,
                                  profile_3d=keypoints.LEGACY_3DH36M17 if with_3d else None)
  frames_by_view = {}
  for view in manifest['views']:
    files = sorted(glob.glob(shards.shard_pattern(sequence_dir, split, view)))
    shards.verify_shards(sequence_dir, files)
    if not files:
      continue
    parts = {'poses': [], 'clips': [], 'frames': []}
    if with_3d:
      parts['poses_3d'], parts['poses_3d_mm'] = [], []
      records.check_first_record(files[0], records.sequence_feature_spec(
          length, profile_2d=profile_2d, profile_3d=keypoints.LEGACY_3DH36M17),
          '(retrieval\'s pose criterion compares 3D poses; use the frame criterion for '
          'records without them)')
    for serialized in tf.data.TFRecordDataset(files).batch(256):
      parsed = parse(serialized)
      records.check_finite_keypoints(parsed, sequence_dir, split, view)
      pixels = keypoints.to_pixels(parsed[records.KEYPOINTS_2D], parsed[records.IMAGE_SIZES])
      poses, _, scales = keypoints.get_profile(profile_2d).normalize(pixels)
      for i, source in enumerate(parsed['source_id'].numpy().astype(str)):
        real = int(parsed['num_frames'][i]) or length
        kept = np.arange(0, real, frame_stride)
        pose_inputs.check_not_degenerate(pixels[i].numpy()[kept],
                                         f'{sequence_dir}: {split}/{view} clip {source}',
                                         scales[i].numpy()[kept])
        parts['poses'].append(poses[i].numpy()[kept])
        parts['clips'].append(np.full(len(kept), clip_id(source, view)))
        parts['frames'].append(kept)
        if with_3d:
          raw = parsed[records.KEYPOINTS_3D][i].numpy()[kept]
          parts['poses_3d'].append(normalized_3d(raw))
          parts['poses_3d_mm'].append(root_relative_3d(raw))
    frames_by_view[view] = Frames(**{k: np.concatenate(v) for k, v in parts.items()})
    shards.check_count(sequence_dir, manifest, split, view,
                       len(np.unique(frames_by_view[view].clips)), 'clips')
  if not frames_by_view:
    raise errors.InputError(f'{sequence_dir} has no {split!r} sequences.')
  return frames_by_view


def load_pair_frames(pattern: str, frame_stride: int = 1,
                     profile_2d: str = keypoints.LEGACY_2DCOCO13) -> dict:
  """The frames of pair records by camera, with their normalised 3D (pair records hold 3D).

  Records with clip, frame and camera metadata (every converter writes them): each view is a
  camera, each frame is the instant (clip `image/source_id`, `image/frame_index`) that camera
  saw, once however many pairs hold it; `frame_stride` keeps the frame indices divisible by it.
  Records without: the two slots of each record are views 'camera_a' and 'camera_b', a record
  is an instant (clip 'pairs', frame = its index), every `frame_stride`-th record.

  Returns frames by view as `load_multiview_frames` does, with 3D.
  """
  files = records.expand_patterns(pattern)
  records.check_first_record(files[0], records.instance_feature_spec(
      records.NUM_PAIR_INSTANCES, profile_2d, keypoints.LEGACY_3DH36M17), '(pair records)')
  by_camera = not records.missing_keys(files[0], records.pair_metadata_spec())
  parts = {'poses': [], 'poses_3d': [], 'poses_3d_mm': [], 'clips': [], 'frames': [],
           'cameras': []}
  dataset = tf.data.TFRecordDataset(files)
  if not by_camera:
    dataset = dataset.shard(frame_stride, 0)
  dataset = dataset.batch(512).map(lambda s: records.parse_pair_example(
      s, profile_2d, keypoints.LEGACY_3DH36M17, with_metadata=by_camera))
  count = 0
  for number, parsed in enumerate(dataset):
    pixels = keypoints.to_pixels(parsed[records.KEYPOINTS_2D], parsed[records.IMAGE_SIZES])
    poses, _, scales = keypoints.get_profile(profile_2d).normalize(pixels)
    pose_inputs.check_not_degenerate(pixels.numpy(), f'{pattern}: batch {number} of 512 pairs',
                                     scales.numpy())
    size = len(poses)
    parts['poses'].append(poses.numpy())
    parts['poses_3d'].append(normalized_3d(parsed[records.KEYPOINTS_3D].numpy()))
    parts['poses_3d_mm'].append(root_relative_3d(parsed[records.KEYPOINTS_3D].numpy()))
    if by_camera:
      parts['clips'].append(np.repeat(parsed[records.SOURCE_ID].numpy().astype(str)[:, None], 2, 1))
      parts['frames'].append(parsed[records.FRAME_INDEX].numpy())
      parts['cameras'].append(parsed[records.CAMERA].numpy().astype(str))
    else:
      parts['frames'].append(np.repeat(np.arange(count, count + size)[:, None], 2, 1))
    count += size
  poses, poses_3d = np.concatenate(parts['poses']), np.concatenate(parts['poses_3d'])
  poses_3d_mm = np.concatenate(parts['poses_3d_mm'])
  frames = np.concatenate(parts['frames'])
  if not by_camera:
    return {camera: Frames(poses=poses[:, slot], poses_3d=poses_3d[:, slot],
                           poses_3d_mm=poses_3d_mm[:, slot], frames=frames[:, slot],
                           clips=np.full(len(poses), 'pairs'))
            for slot, camera in enumerate(('camera_a', 'camera_b'))}
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  poses, poses_3d, poses_3d_mm, frames = (flat(poses), flat(poses_3d), flat(poses_3d_mm),
                                          flat(frames))
  clips, cameras = flat(np.concatenate(parts['clips'])), flat(np.concatenate(parts['cameras']))
  keep = frames % frame_stride == 0
  frames_by_view = {}
  for camera in sorted(set(cameras[keep])):
    rows = np.flatnonzero(keep & (cameras == camera))
    _, first = np.unique(np.stack([clips[rows], frames[rows].astype(str)], 1), axis=0,
                         return_index=True)
    rows = rows[np.sort(first)]  # each instant once, in record order
    frames_by_view[camera] = Frames(poses=poses[rows], poses_3d=poses_3d[rows],
                                    poses_3d_mm=poses_3d_mm[rows], frames=frames[rows],
                                    clips=clips[rows])
  return frames_by_view


def load_recordings(directories, frame_stride: int = 1, format: str = 'auto', layout=None,
                    person: str = 'most_confident', min_score: float = 0.0,
                    image_size=None) -> dict:
  """Frames by camera of every recording folder of detections (`core.detections`: each
  folder one recording, its clip named by its path), every `frame_stride`-th frame number."""
  clips = [os.path.normpath(d) for d in directories]
  repeated = sorted({c for c in clips if clips.count(c) > 1})
  if repeated:
    raise errors.InputError(f'--detections names {repeated[0]} twice: every recording once.')
  frames = {}
  for directory in directories:
    rig = detections.read_rig_directory(directory, format, layout, person, min_score,
                                        image_size)
    if frames and sorted(rig) != sorted(frames):
      raise errors.InputError(f'{directory}: cameras {", ".join(sorted(rig))} differ from the '
                              f'first recording\'s ({", ".join(sorted(frames))}); every '
                              'recording needs the same cameras.')
    for camera, data in rig.items():
      frames.setdefault(camera, []).append(data)
  return {camera: Frames.concat(parts).stride(frame_stride) for camera, parts in frames.items()}


def sequences_have_3d(directory: str, split: str) -> bool:
  """Whether the first record of the split's first view holds 3D poses."""
  manifest = shards.read_manifest(directory)
  files = sorted(glob.glob(shards.shard_pattern(directory, split, manifest['views'][0])))
  if not files:
    return False
  spec = records.sequence_feature_spec(manifest['sequence_length'],
                                       profile_3d=keypoints.LEGACY_3DH36M17)
  return not records.missing_keys(files[0], spec)


def select_views(frames_by_view: dict, views, minimum: int = 2) -> dict:
  """The frames of the named views (all where `views` is empty); a one-line error names the
  views there are."""
  if not views:
    return frames_by_view
  unknown = [v for v in views if v not in frames_by_view]
  if unknown or len(set(views)) < minimum:
    raise errors.InputError(f'--cameras={",".join(views)}: give at least {minimum} of '
                            f'{", ".join(sorted(frames_by_view))}.')
  return {v: frames_by_view[v] for v in views}
