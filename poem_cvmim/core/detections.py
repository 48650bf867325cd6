"""2D detector output in: OpenPose JSON folders, COCO keypoint results, MMPose predictions and
MediaPipe BlazePose landmarks, mapped by joint name to the 13 LEGACY_2DCOCO13 joints, one
person a frame.

A camera's detections become a `Track`: (y, x) pixel keypoints [N, 13, 2], confidences
[N, 13] and frame numbers [N] (sorted). Formats (`read_track(path, format='auto')`):

- `openpose`: a folder of per-frame files `<name>_<frame>_keypoints.json`, each
  {"people": [{"pose_keypoints_2d": [x0, y0, c0, x1, ...]}, ...]}; the joint layout follows
  from the count (18: COCO-18, 25: BODY_25) or `layout` (BODY_25B: 25 joints in its own order).
  The frame is the last number in the file name.
- `coco`: one results file [{"image_id", "keypoints": [x, y, v] x 17, "score"}, ...] (the COCO
  keypoint-challenge result format); the frame is the image id.
- `mmpose`: MMPose predictions: a file holding {"instance_info": [{"frame_id", "instances":
  [...]}]} (the demo scripts' --save-predictions) or [{"frame_id", "instances"}] (a video's
  inferencer output), or a folder of per-frame files each a list of instances (the
  inferencer on images). An instance is {"keypoints": [[x, y], ...], "keypoint_scores": [...],
  "bbox_score"}; joints follow COCO-17 order (the first 17 of Halpe-26 and COCO-WholeBody too)
  unless "meta_info" names them (keypoint_id2name).
- `mediapipe`: MediaPipe BlazePose landmarks (33 a person), as a pose landmarker's results
  are commonly dumped: a file holding a list of frames, each {"frame": n, "pose_landmarks":
  [...]} ("landmarks" and "frame_id" / "frame_index" also read; without a number a frame is
  its place in the list), or a folder of per-frame files each {"pose_landmarks": [...]}. The
  landmarks are one person's 33 or a list of people's; a landmark is {"x", "y", "z",
  "visibility", "presence"} or [x, y, z, visibility]. The confidence is the visibility
  (else the presence, else 1). Coordinates in [0, 1] of the image (MediaPipe's normalised
  landmarks) need the image size; pixel coordinates do not.

Several people in a frame: `person='most_confident'` keeps the highest mean joint confidence
(or the result's score), 'largest' the largest box around the detected joints, 'first' the
first listed. A joint is missing when its confidence is at most `min_score` (OpenPose and
COCO write (0, 0, 0)); `fill_missing` fills it (see there).
"""

import dataclasses
import glob
import json
import os
import re
from typing import Optional

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import frames as frames_lib
from poem_cvmim.core import keypoints
from poem_cvmim.core import pose_inputs

OPENPOSE, COCO, MMPOSE, MEDIAPIPE = 'openpose', 'coco', 'mmpose', 'mediapipe'
FORMATS = ('auto', OPENPOSE, COCO, MMPOSE, MEDIAPIPE)
PERSON_RULES = ('most_confident', 'largest', 'first')
COCO17, COCO18, BODY25, BODY25B, BLAZEPOSE33 = ('COCO17', 'COCO18', 'BODY_25', 'BODY_25B',
                                              'BLAZEPOSE33')

# Joint names of each detector layout, in its array order ('' for joints the 13 do not use).
_COCO17_NAMES = ('NOSE_TIP', '', '', '', '', 'LEFT_SHOULDER', 'RIGHT_SHOULDER', 'LEFT_ELBOW',
                 'RIGHT_ELBOW', 'LEFT_WRIST', 'RIGHT_WRIST', 'LEFT_HIP', 'RIGHT_HIP',
                 'LEFT_KNEE', 'RIGHT_KNEE', 'LEFT_ANKLE', 'RIGHT_ANKLE')
LAYOUTS = {
    COCO17: _COCO17_NAMES,
    # OpenPose's COCO model: nose, neck, right arm, left arm, right leg, left leg, eyes, ears.
    COCO18: ('NOSE_TIP', '', 'RIGHT_SHOULDER', 'RIGHT_ELBOW', 'RIGHT_WRIST', 'LEFT_SHOULDER',
             'LEFT_ELBOW', 'LEFT_WRIST', 'RIGHT_HIP', 'RIGHT_KNEE', 'RIGHT_ANKLE', 'LEFT_HIP',
             'LEFT_KNEE', 'LEFT_ANKLE', '', '', '', ''),
    # BODY_25: COCO-18's order with the mid hip at 8, then eyes, ears and six foot points.
    BODY25: ('NOSE_TIP', '', 'RIGHT_SHOULDER', 'RIGHT_ELBOW', 'RIGHT_WRIST', 'LEFT_SHOULDER',
             'LEFT_ELBOW', 'LEFT_WRIST', '', 'RIGHT_HIP', 'RIGHT_KNEE', 'RIGHT_ANKLE',
             'LEFT_HIP', 'LEFT_KNEE', 'LEFT_ANKLE') + ('',) * 10,
    # BODY_25B: COCO-17's order, then upper neck, head top and six foot points.
    BODY25B: _COCO17_NAMES + ('',) * 8,
    # MediaPipe BlazePose: nose, eyes (6), ears, mouth (9, 10), then shoulders 11/12, elbows,
    # wrists, hands (17-22), hips 23/24, knees, ankles, heels and toes (29-32).
    BLAZEPOSE33: ('NOSE_TIP',) + ('',) * 10 + (
        'LEFT_SHOULDER', 'RIGHT_SHOULDER', 'LEFT_ELBOW', 'RIGHT_ELBOW', 'LEFT_WRIST',
        'RIGHT_WRIST') + ('',) * 6 + ('LEFT_HIP', 'RIGHT_HIP', 'LEFT_KNEE', 'RIGHT_KNEE',
                                      'LEFT_ANKLE', 'RIGHT_ANKLE') + ('',) * 4,
}
# Keys of a MediaPipe frame entry: its landmarks and (else its place in the list) its number.
_MEDIAPIPE_LANDMARKS = ('pose_landmarks', 'landmarks')
_MEDIAPIPE_FRAME = ('frame', 'frame_id', 'frame_index', 'frame_idx')
# MMPose / COCO joint names (meta_info keypoint_id2name) -> ours.
_MMPOSE_NAMES = {'nose': 'NOSE_TIP', 'left_shoulder': 'LEFT_SHOULDER',
                 'right_shoulder': 'RIGHT_SHOULDER', 'left_elbow': 'LEFT_ELBOW',
                 'right_elbow': 'RIGHT_ELBOW', 'left_wrist': 'LEFT_WRIST',
                 'right_wrist': 'RIGHT_WRIST', 'left_hip': 'LEFT_HIP', 'right_hip': 'RIGHT_HIP',
                 'left_knee': 'LEFT_KNEE', 'right_knee': 'RIGHT_KNEE',
                 'left_ankle': 'LEFT_ANKLE', 'right_ankle': 'RIGHT_ANKLE'}
TARGET_NAMES = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).keypoint_names
NUM_JOINTS = len(TARGET_NAMES)
# Where a joint that a track never detects is put: the first of these joints it has (nearest
# towards the torso first; a pose with any shoulder or hip always has one).
_FALLBACK = {
    'LEFT_WRIST': ('LEFT_ELBOW', 'LEFT_SHOULDER'), 'RIGHT_WRIST': ('RIGHT_ELBOW', 'RIGHT_SHOULDER'),
    'LEFT_ELBOW': ('LEFT_SHOULDER',), 'RIGHT_ELBOW': ('RIGHT_SHOULDER',),
    'LEFT_ANKLE': ('LEFT_KNEE', 'LEFT_HIP'), 'RIGHT_ANKLE': ('RIGHT_KNEE', 'RIGHT_HIP'),
    'LEFT_KNEE': ('LEFT_HIP',), 'RIGHT_KNEE': ('RIGHT_HIP',),
    'NOSE_TIP': ('LEFT_SHOULDER', 'RIGHT_SHOULDER'),
    'LEFT_SHOULDER': ('RIGHT_SHOULDER', 'LEFT_HIP'), 'RIGHT_SHOULDER': ('LEFT_SHOULDER', 'RIGHT_HIP'),
    'LEFT_HIP': ('RIGHT_HIP', 'LEFT_SHOULDER'), 'RIGHT_HIP': ('LEFT_HIP', 'RIGHT_SHOULDER')}
_TORSO = ('LEFT_SHOULDER', 'RIGHT_SHOULDER', 'LEFT_HIP', 'RIGHT_HIP')


@dataclasses.dataclass
class Track:
  """One camera's detections, one person a frame."""
  points: np.ndarray  # [N, 13, 2] (y, x) pixels (0 where missing)
  scores: np.ndarray  # [N, 13] confidences (0 where missing)
  frames: np.ndarray  # [N] frame numbers, increasing
  source: str  # the file or folder read
  # Where each row came from, for writing refined joints back (`detection_writers`): the
  # kept person's place in its frame's list (-1: nobody) and each of the 13 joints' index in
  # the file's joint layout. None for tracks not read from files.
  people: Optional[np.ndarray] = None
  layout: Optional[np.ndarray] = None

  def __len__(self):
    return len(self.frames)


def _index_map(names) -> np.ndarray:
  """For each of the 13 target joints, its index in a layout given by joint names."""
  names = list(names)
  missing = [n for n in TARGET_NAMES if n not in names]
  if missing:
    raise errors.InputError(f'the joint layout lacks {", ".join(missing)}.')
  return np.array([names.index(n) for n in TARGET_NAMES])


def load_json(path: str):
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise errors.InputError(f'{path}: not valid JSON ({error}).') from None


def _json_files(folder: str) -> list:
  """The sorted .json files of a camera's folder; none is an error naming the folder."""
  files = sorted(glob.glob(os.path.join(folder, '*.json')))
  if not files:
    raise errors.InputError(f'{folder}: no .json files.')
  return files


def frame_number(path: str) -> int:
  numbers = re.findall(r'\d+', os.path.basename(path))
  if not numbers:
    raise errors.InputError(f'{path}: no frame number in the file name.')
  return int(numbers[-1])


def _pick(people: list, rule: str) -> Optional[int]:
  """The place in `people` of the person the rule keeps, or None."""
  if not people:
    return None
  if rule == 'first':
    return 0
  if rule == 'most_confident':
    return max(range(len(people)), key=lambda i: people[i][2])
  def extent(i):
    detected = people[i][0][people[i][1] > 0]
    return 0.0 if len(detected) < 2 else float(np.prod(np.ptp(detected, axis=0)))
  return max(range(len(people)), key=extent)


def _person(xy, scores, path, what, overall=None):
  """(xy [J, 2], scores [J], confidence) of one listed person, checked."""
  xy, scores = np.asarray(xy, np.float64), np.asarray(scores, np.float64)
  if xy.ndim != 2 or xy.shape[1] != 2 or scores.shape != (len(xy),):
    raise errors.InputError(f'{path}: {what}: keypoints of shape {xy.shape} with {scores.shape} '
                            'scores; expected [J, 2] and [J].')
  if not (np.isfinite(xy).all() and np.isfinite(scores).all()):
    raise errors.InputError(f'{path}: {what}: NaN or Inf keypoints.')
  return xy, scores, float(np.mean(scores) if overall is None else overall)


def _from_triples(values, path, what, overall=None):
  values = np.asarray(values, np.float64)
  if values.ndim != 1 or len(values) % 3:
    raise errors.InputError(f'{path}: {what}: {values.size} keypoint values, expected x, y, '
                            'confidence triples.')
  triples = values.reshape(-1, 3)
  return _person(triples[:, :2], triples[:, 2], path, what, overall)


def _track(frames: dict, index_map, source: str, person: str) -> Track:
  """A Track from {frame: [(xy [J, 2], scores [J], confidence), ...]} (frames may be empty)."""
  if person not in PERSON_RULES:
    raise errors.InputError(f'Unknown person rule {person!r}; valid: {", ".join(PERSON_RULES)}.')
  if not frames:
    raise errors.InputError(f'{source}: no frames.')
  numbers = np.array(sorted(frames))
  points = np.zeros((len(numbers), NUM_JOINTS, 2), np.float64)
  scores = np.zeros((len(numbers), NUM_JOINTS), np.float64)
  people = np.full(len(numbers), -1)
  for row, number in enumerate(numbers):
    chosen = _pick(frames[number], person)
    if chosen is None:
      continue
    people[row] = chosen
    xy, confidence = frames[number][chosen][:2]
    if int(np.max(index_map)) >= len(xy):
      raise errors.InputError(f'{source}: frame {number}: {len(xy)} joints, the layout needs at '
                              f'least {int(np.max(index_map)) + 1}.')
    points[row] = xy[index_map][:, ::-1]  # (x, y) -> (y, x)
    scores[row] = confidence[index_map]
  return Track(points, scores, numbers, source, people, np.asarray(index_map))


def read_openpose(folder: str, layout: Optional[str] = None,
                  person: str = 'most_confident') -> Track:
  """A folder of OpenPose per-frame JSON files (see the module docstring)."""
  files = _json_files(folder)
  frames, count = {}, None
  for path in files:
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get('people'), list):
      raise errors.InputError(f'{path}: not an OpenPose file (no "people" list).')
    people = []
    for i, entry in enumerate(data['people']):
      if 'pose_keypoints_2d' not in entry:
        raise errors.InputError(f'{path}: person {i} has no "pose_keypoints_2d".')
      people.append(_from_triples(entry['pose_keypoints_2d'], path, f'person {i}'))
      count = count or len(people[-1][0])
    number = frame_number(path)
    if number in frames:
      raise errors.InputError(f'{path}: frame {number} appears twice in {folder}.')
    frames[number] = people
  if layout is None:
    layout = {18: COCO18, 25: BODY25, 17: COCO17}.get(count)
    if layout is None and count is not None:
      raise errors.InputError(f'{folder}: {count} joints a person; known layouts: 17 (COCO), '
                              '18 (OpenPose COCO), 25 (BODY_25; give the layout for BODY_25B).')
  return _track(frames, _index_map(LAYOUTS[layout or BODY25]), folder, person)


def read_coco_results(path: str, person: str = 'most_confident') -> Track:
  """A COCO keypoint results file (17 joints a result, frame = image_id)."""
  data = load_json(path)
  if not isinstance(data, list):
    raise errors.InputError(f'{path}: a COCO results file is a list of results.')
  frames = {}
  for i, result in enumerate(data):
    if not isinstance(result, dict) or 'image_id' not in result or 'keypoints' not in result:
      raise errors.InputError(f'{path}: result {i} lacks "image_id" or "keypoints".')
    entry = _from_triples(result['keypoints'], path, f'result {i}', result.get('score'))
    if len(entry[0]) != 17:
      raise errors.InputError(f'{path}: result {i} has {len(entry[0])} joints, COCO has 17.')
    try:
      frame = int(result['image_id'])
    except (TypeError, ValueError):
      raise errors.InputError(f'{path}: result {i}: image_id {result["image_id"]!r} is not a frame '
                              'number.') from None
    frames.setdefault(frame, []).append(entry)
  return _track(frames, _index_map(LAYOUTS[COCO17]), path, person)


def _mmpose_instances(instances, path, what):
  people = []
  for i, instance in enumerate(instances):
    if not isinstance(instance, dict) or 'keypoints' not in instance:
      raise errors.InputError(f'{path}: {what}: instance {i} has no "keypoints".')
    xy = instance['keypoints']
    scores = instance.get('keypoint_scores', np.ones(len(xy)))
    people.append(_person(xy, scores, path, f'{what}, instance {i}', instance.get('bbox_score')
                          if np.ndim(instance.get('bbox_score')) == 0 else None))
  return people


def read_mmpose(path: str, person: str = 'most_confident') -> Track:
  """MMPose predictions: one file or a folder of per-frame files (module docstring)."""
  frames, names = {}, None
  if os.path.isdir(path):
    files = _json_files(path)
    for file in files:
      data = load_json(file)
      if not isinstance(data, list):
        raise errors.InputError(f'{file}: an MMPose per-frame file is a list of instances.')
      frames[frame_number(file)] = _mmpose_instances(data, file, 'frame')
  else:
    data = load_json(path)
    if isinstance(data, dict):
      meta = data.get('meta_info') or {}
      id2name = meta.get('keypoint_id2name')
      if id2name:
        names = [id2name[str(i)] if str(i) in id2name else id2name.get(i, '')
                 for i in range(len(id2name))]
      data = data.get('instance_info')
      if data is None:
        raise errors.InputError(f'{path}: an MMPose predictions file holds "instance_info".')
    if not isinstance(data, list):
      raise errors.InputError(f'{path}: not MMPose predictions (expected a list of frames).')
    if data and isinstance(data[0], dict) and 'frame_id' in data[0]:
      for i, frame in enumerate(data):
        if 'frame_id' not in frame or 'instances' not in frame:
          raise errors.InputError(f'{path}: frame entry {i} lacks "frame_id" or "instances".')
        frames[int(frame['frame_id'])] = _mmpose_instances(frame['instances'], path,
                                                           f'frame {frame["frame_id"]}')
    else:  # one image's instances
      frames[0] = _mmpose_instances(data, path, 'image')
  layout = ([_MMPOSE_NAMES.get(n, '') for n in names] if names else LAYOUTS[COCO17])
  return _track(frames, _index_map(layout), path, person)


def _mediapipe_people(landmarks, path, what) -> list:
  """[(xy [33, 2], scores [33], confidence)] of a frame's landmarks (one person or many)."""
  if not isinstance(landmarks, list):
    raise errors.InputError(f'{path}: {what}: landmarks are a list.')
  if landmarks and isinstance(landmarks[0], list) and landmarks[0] and isinstance(
      landmarks[0][0], (dict, list)):
    people = landmarks  # a list of people
  else:
    people = [landmarks] if landmarks else []
  decoded = []
  for i, person in enumerate(people):
    rows = []
    for landmark in person:
      if isinstance(landmark, dict):
        if 'x' not in landmark or 'y' not in landmark:
          raise errors.InputError(f'{path}: {what}, person {i}: a landmark lacks "x" or "y".')
        confidence = landmark.get('visibility', landmark.get('presence', 1.0))
        rows.append((landmark['x'], landmark['y'], confidence))
      elif isinstance(landmark, (list, tuple)) and len(landmark) >= 2:
        rows.append((landmark[0], landmark[1], landmark[3] if len(landmark) > 3 else 1.0))
      else:
        raise errors.InputError(f'{path}: {what}, person {i}: a landmark is {{"x", "y", ...}} '
                                'or [x, y, z, visibility].')
    if len(rows) != len(LAYOUTS[BLAZEPOSE33]):
      raise errors.InputError(f'{path}: {what}, person {i}: {len(rows)} landmarks, BlazePose '
                              f'has {len(LAYOUTS[BLAZEPOSE33])}.')
    rows = np.asarray(rows, np.float64)
    decoded.append(_person(rows[:, :2], rows[:, 2], path, f'{what}, person {i}'))
  return decoded


def _mediapipe_landmarks(entry, path, what):
  found = [key for key in _MEDIAPIPE_LANDMARKS if key in entry]
  if not found:
    raise errors.InputError(f'{path}: {what} has no "pose_landmarks".')
  return entry[found[0]]


def read_mediapipe(path: str, person: str = 'most_confident') -> Track:
  """MediaPipe BlazePose landmarks: one file of frames or a folder of per-frame files."""
  frames = {}
  if os.path.isdir(path):
    files = _json_files(path)
    for file in files:
      data = load_json(file)
      landmarks = (_mediapipe_landmarks(data, file, 'the file') if isinstance(data, dict)
                   else data)
      frames[frame_number(file)] = _mediapipe_people(landmarks, file, 'frame')
  else:
    data = load_json(path)
    if isinstance(data, dict) and 'frames' in data:
      data = data['frames']
    if not isinstance(data, list):
      raise errors.InputError(f'{path}: MediaPipe landmarks are a list of frames.')
    for i, entry in enumerate(data):
      if not isinstance(entry, dict):
        raise errors.InputError(f'{path}: frame entry {i} is not an object.')
      keys = [key for key in _MEDIAPIPE_FRAME if key in entry]
      number = int(entry[keys[0]]) if keys else i
      if number in frames:
        raise errors.InputError(f'{path}: frame {number} appears twice.')
      frames[number] = _mediapipe_people(_mediapipe_landmarks(entry, path, f'frame entry {i}'),
                                         path, f'frame {number}')
  return _track(frames, _index_map(LAYOUTS[BLAZEPOSE33]), path, person)


def _is_mediapipe(data) -> bool:
  entry = data[0] if isinstance(data, list) and data else data
  if isinstance(data, dict) and isinstance(data.get('frames'), list):
    entry = data['frames'][0] if data['frames'] else {}
  return isinstance(entry, dict) and any(key in entry for key in _MEDIAPIPE_LANDMARKS)


def detect_format(path: str) -> str:
  """The format of a camera's path (folder or file), from its content."""
  if os.path.isdir(path):
    files = _json_files(path)
    data = load_json(files[0])
    if isinstance(data, dict) and 'people' in data:
      return OPENPOSE
    if _is_mediapipe(data):
      return MEDIAPIPE
    if isinstance(data, list):
      return MMPOSE
    raise errors.InputError(f'{files[0]}: neither an OpenPose, MMPose nor MediaPipe per-frame '
                            'file.')
  if not os.path.exists(path):
    raise FileNotFoundError(f'No such file or folder: {path}')
  data = load_json(path)
  if _is_mediapipe(data):
    return MEDIAPIPE
  if isinstance(data, dict) and 'instance_info' in data:
    return MMPOSE
  if isinstance(data, list) and data and isinstance(data[0], dict):
    if 'image_id' in data[0]:
      return COCO
    if 'frame_id' in data[0] or 'keypoint_scores' in data[0]:
      return MMPOSE
  raise errors.InputError(f'{path}: not a COCO results, MMPose predictions or MediaPipe '
                          'landmarks file.')


def read_track(path: str, format: str = 'auto', layout: Optional[str] = None,
               person: str = 'most_confident') -> Track:
  """One camera's detections in any supported format."""
  if format not in FORMATS:
    raise errors.InputError(f'Unknown format {format!r}; valid: {", ".join(FORMATS)}.')
  if layout is not None and layout not in LAYOUTS:
    raise errors.InputError(f'Unknown layout {layout!r}; valid: {", ".join(LAYOUTS)}.')
  if not os.path.exists(path):
    raise FileNotFoundError(f'No such file or folder: {path}')
  format = detect_format(path) if format == 'auto' else format
  if format == OPENPOSE:
    return read_openpose(path, layout, person)
  if format == COCO:
    return read_coco_results(path, person)
  if format == MEDIAPIPE:
    return read_mediapipe(path, person)
  return read_mmpose(path, person)


def fill_missing(track: Track, min_score: float = 0.0) -> tuple:
  """(points [N, 13, 2], filled [N, 13] bool): missing joints (confidence <= min_score)
  filled as the encoder expects complete poses.

  The encoder was trained on poses with every joint present (the synthetic detector's misses
  keep a position near the true one), so a missing joint is filled: linearly interpolated in
  time between the nearest frames of this camera that have it (held constant before the first
  and after the last); a joint this camera never detects takes the position of the nearest
  joint towards the torso it has (wrist -> elbow -> shoulder, ...). A camera with no torso
  joint in any frame is an error.
  """
  missing = track.scores <= min_score
  points = track.points.astype(np.float64).copy()
  names = list(TARGET_NAMES)
  absent = [names[j] for j in range(NUM_JOINTS) if missing[:, j].all()]
  if all(n in absent for n in _TORSO):
    raise errors.InputError(f'{track.source}: no shoulder or hip detected in any frame; nothing to '
                            'normalise the poses by.')
  for j in range(NUM_JOINTS):
    have = ~missing[:, j]
    if have.all() or not have.any():
      continue
    for axis in range(2):
      points[~have, j, axis] = np.interp(track.frames[~have], track.frames[have],
                                         points[have, j, axis])
  for name in absent:
    source = next((n for n in _FALLBACK[name] + _TORSO if n not in absent))
    points[:, names.index(name)] = points[:, names.index(source)]
  return points, missing


def normalize(points: np.ndarray, image_size=None, source: str = '') -> np.ndarray:
  """Profile-normalised poses [N, 13, 2] float32 from (y, x) pixels, or from coordinates in
  [0, 1] of an image of `image_size` (height, width) when it is given; the coordinates and
  poses are checked first (`core.pose_inputs`)."""
  pixels = pose_inputs.to_pixels(points, image_size, source)
  normalized, _, scale = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).normalize(pixels)
  pose_inputs.check_not_degenerate(pixels, source, scale)
  return normalized.astype(np.float32)


def read_rig(camera_paths: dict, clip: str = 'rig', format: str = 'auto',
             layout: Optional[str] = None, person: str = 'most_confident',
             min_score: float = 0.0, image_size=None) -> dict:
  """Synchronised cameras of one recording: {camera: path} -> frames by view ({camera:
  `frames.Frames`} with `filled`), as `evaluation.frame_sources` loads them from records.
  Frame numbers must agree across the cameras (the same number is the same instant)."""
  frames_by_view = {}
  for camera, path in camera_paths.items():
    track = read_track(path, format, layout, person)
    points, filled = fill_missing(track, min_score)
    frames_by_view[camera] = frames_lib.Frames(
        poses=normalize(points, image_size, path), clips=np.full(len(track), clip),
        frames=track.frames, filled=filled)
  return frames_by_view


def read_rig_directory(directory: str, format: str = 'auto', layout: Optional[str] = None,
                       person: str = 'most_confident', min_score: float = 0.0,
                       image_size=None) -> dict:
  """`read_rig` of a recording folder (`rig_cameras`), its clip named by the folder's whole
  path (not its last part: `day1/take` and `day2/take` are two performances)."""
  return read_rig(rig_cameras(directory), os.path.normpath(directory),
                  format, layout, person, min_score, image_size)


def rig_cameras(directory: str) -> dict:
  """{camera: path}: each sub-folder or .json file of `directory` is one camera."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'No such folder: {directory}')
  entries = sorted(e for e in os.listdir(directory) if not e.startswith('.'))
  cameras = {os.path.splitext(e)[0]: os.path.join(directory, e) for e in entries
             if os.path.isdir(os.path.join(directory, e)) or e.endswith('.json')}
  if len(cameras) < 2:
    raise errors.InputError(f'{directory}: {len(cameras)} camera(s) found (a sub-folder or .json '
                            'file each); cross-view retrieval needs at least two.')
  return cameras


# Left/right joint pairs of the 13 joints (a detector's whole-body flip swaps them all).
LEFT_RIGHT_PAIRS = [(TARGET_NAMES.index(n), TARGET_NAMES.index(n.replace('LEFT', 'RIGHT')))
          for n in TARGET_NAMES if n.startswith('LEFT')]


def add_detector_noise(frames_by_view: dict, rng: np.random.Generator, miss_rate: float = 0.1,
                       jitter: float = 0.01, swap_rate: float = 0.05) -> dict:
  """A copy of normalised frames by view with detector-like errors, then filled and
  normalised again as detector output is: each joint missed with probability `miss_rate`,
  Gaussian jitter of `jitter` (normalised units, in which the torso's largest side is 0.5), and
  a left/right flip of the whole body in a frame with probability `swap_rate`."""
  noisy = {}
  for view, data in frames_by_view.items():
    poses = data.poses.astype(np.float64) + rng.normal(0.0, jitter, data.poses.shape)
    flip = rng.uniform(size=len(poses)) < swap_rate
    for left, right in LEFT_RIGHT_PAIRS:
      poses[flip, left], poses[flip, right] = poses[flip, right], poses[flip, left].copy()
    scores = (rng.uniform(size=poses.shape[:2]) >= miss_rate).astype(np.float64)
    filled = np.zeros_like(poses)
    for clip in np.unique(data.clips):
      rows = np.flatnonzero(data.clips == clip)
      rows = rows[np.argsort(data.frames[rows], kind='stable')]
      track = Track(poses[rows], scores[rows], data.frames[rows], f'{view}/{clip}')
      filled[rows] = fill_missing(track)[0]
    normalized, _, _ = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).normalize(filled)
    noisy[view] = data.replace(poses=normalized.astype(np.float32))
  return noisy
