"""Refined joints written back into detector files of the format they were read from.

`write_refined` re-reads a camera's files (`detections` formats: OpenPose folders, COCO results,
MMPose predictions, MediaPipe landmarks), replaces the 13 joints of the person the reader kept
in each frame (`Track.people`, `Track.layout`) and writes every file under the output folder
with its own name. Everything else stays as it was: other people, the joints the 13 do not
include (eyes, ears, feet, hands), keys the readers ignore, frames where nobody was detected.
A joint that was missing (confidence at or below `min_score`) and now has a position gets the
confidence `filled_score` (0 keeps it marked missing); detected joints keep their confidence.
"""

import json
import os
from typing import Optional

import numpy as np

from poem_cvmim.core import detections
from poem_cvmim.core import errors


class _Person:
  """Reads and writes one listed person's joints (x, y, confidence) in place."""

  def __init__(self, get, put):
    self.get, self.put = get, put


def _triples(entry: dict, key: str) -> _Person:
  values = entry[key]
  def put(joint, x, y, confidence):
    values[3 * joint:3 * joint + 3] = [x, y, confidence]
  return _Person(lambda joint: values[3 * joint + 2], put)


def _mmpose(instance: dict) -> _Person:
  points = instance['keypoints']
  scores = instance.get('keypoint_scores')
  def put(joint, x, y, confidence):
    points[joint] = [x, y]
    if scores is not None:
      scores[joint] = confidence
  return _Person(lambda joint: 1.0 if scores is None else scores[joint], put)


def _mediapipe(person: list, image_size) -> _Person:
  height, width = (1.0, 1.0) if image_size is None else image_size
  def get(joint):
    landmark = person[joint]
    if isinstance(landmark, dict):
      return landmark.get('visibility', landmark.get('presence', 1.0))
    return landmark[3] if len(landmark) > 3 else 1.0
  def put(joint, x, y, confidence):
    landmark = person[joint]
    if isinstance(landmark, dict):
      landmark['x'], landmark['y'] = x / width, y / height
      if 'visibility' in landmark or confidence != get(joint):
        landmark['visibility'] = confidence
    else:
      landmark[0], landmark[1] = x / width, y / height
      if len(landmark) > 3:
        landmark[3] = confidence
  return _Person(get, put)


def _mediapipe_people(landmarks, image_size) -> list:
  if landmarks and isinstance(landmarks[0], list) and landmarks[0] and isinstance(
      landmarks[0][0], (dict, list)):
    return [_mediapipe(p, image_size) for p in landmarks]
  return [_mediapipe(landmarks, image_size)] if landmarks else []


def _landmarks_key(entry: dict) -> str:
  return next(key for key in ('pose_landmarks', 'landmarks') if key in entry)


def _documents(path: str, format: str, image_size) -> tuple:
  """({file path: parsed JSON}, {frame: [_Person, ...]}) walking the files as the reader does."""
  files = (sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith('.json'))
           if os.path.isdir(path) else [path])
  documents = {file: detections.load_json(file) for file in files}
  frames = {}
  for file, data in documents.items():
    if format == detections.OPENPOSE:
      frames[detections.frame_number(file)] = [_triples(e, 'pose_keypoints_2d')
                                                for e in data['people']]
    elif format == detections.COCO:
      for result in data:
        frames.setdefault(int(result['image_id']), []).append(_triples(result, 'keypoints'))
    elif format == detections.MMPOSE:
      if os.path.isdir(path):
        frames[detections.frame_number(file)] = [_mmpose(i) for i in data]
        continue
      listed = data.get('instance_info') if isinstance(data, dict) else data
      if listed and isinstance(listed[0], dict) and 'frame_id' in listed[0]:
        for frame in listed:
          frames[int(frame['frame_id'])] = [_mmpose(i) for i in frame['instances']]
      else:
        frames[0] = [_mmpose(i) for i in listed]
    elif format == detections.MEDIAPIPE:
      if os.path.isdir(path):
        landmarks = data[_landmarks_key(data)] if isinstance(data, dict) else data
        frames[detections.frame_number(file)] = _mediapipe_people(landmarks, image_size)
        continue
      listed = data['frames'] if isinstance(data, dict) and 'frames' in data else data
      for i, entry in enumerate(listed):
        keys = [key for key in ('frame', 'frame_id', 'frame_index', 'frame_idx') if key in entry]
        frames[int(entry[keys[0]]) if keys else i] = _mediapipe_people(
            entry[_landmarks_key(entry)], image_size)
    else:
      raise errors.InputError(f'Unknown format {format!r}.')
  return documents, frames


def write_refined(path: str, format: str, track: detections.Track, points: np.ndarray,
                  output: str, min_score: float = 0.0, filled_score: float = 0.1,
                  image_size: Optional[tuple] = None) -> list:
  """Writes `path`'s files with the kept person's joints set to `points` [N, 13, 2] ((y, x)
  pixels, one row per track row) under the folder `output` (a folder input's files go into
  `output` itself, a file input becomes `output/<its name>`); returns the written paths.
  `image_size` (height, width): the file holds [0, 1] coordinates (MediaPipe's normalised
  landmarks) and the points are pixels."""
  if track.people is None or track.layout is None:
    raise errors.InputError(f'{track.source}: this track was not read from detector files.')
  if format == 'auto':
    format = detections.detect_format(path)
  points = np.asarray(points, np.float64)
  if points.shape != track.points.shape:
    raise errors.InputError(f'{path}: {points.shape} refined points for a track of '
                            f'{track.points.shape}.')
  documents, frames = _documents(path, format, image_size)
  for row, number in enumerate(track.frames):
    if track.people[row] < 0:
      continue
    person = frames[int(number)][int(track.people[row])]
    for joint, index in enumerate(track.layout):
      confidence = float(person.get(int(index)))
      if confidence <= min_score:
        confidence = filled_score
      y, x = points[row, joint]
      person.put(int(index), float(x), float(y), confidence)
  os.makedirs(output, exist_ok=True)
  written = []
  for file, data in documents.items():
    target = os.path.join(output, os.path.basename(file))
    if os.path.abspath(target) == os.path.abspath(file):
      raise errors.InputError(f'{target}: the output would overwrite the input; choose another '
                              '--output.')
    temporary = f'{target}.partial'
    with open(temporary, 'w', encoding='utf-8') as f:
      json.dump(data, f)
    os.replace(temporary, target)
    written.append(target)
  return written
