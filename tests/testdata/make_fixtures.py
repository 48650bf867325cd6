r"""Writes the converter fixtures in tests/testdata/ in the datasets' exact formats.

  python -m tests.testdata.make_fixtures [--output_dir=tests/testdata]

Every value is a simple function of (file, frame, joint), given here, so tests can compute the
record a converter must write. The committed files are this program's output; a test checks
that they still are.
"""

import os
import sys

import numpy as np

from data_prep import ntu_skeleton

HERE = os.path.dirname(os.path.abspath(__file__))
NTU, PENN, H36M = 'ntu', 'penn_action', 'h36m'

# ------------------------------------------------------------------------------------------
# NTU RGB+D.

BODY_STILL, BODY_MOVING = '72057594037931101', '72057594037931102'
NTU_LENGTHS = {'S001C001P001R001A001': 12, 'S001C002P001R001A001': 12,
               'S001C003P001R001A001': 10}
NTU_EMPTY_FRAME = 3  # frame with 0 bodies in S001C001P001R001A001
NTU_INFERRED = (0, 3)  # (frame, joint) with tracking state 1 in every single-body file
NTU_SWAPPED = 'S001C001P003R002A007'  # two bodies, listed in swapped order on odd frames
NTU_TWO_PERSON = 'S001C001P002R001A050'
NTU_TRUNCATED = 'S001C001P002R001A002'
NTU_LISTED = 'S001C002P005R002A008'  # in the shipped missing-skeleton list
NTU_TRUNCATED_LINES = 40  # the truncated file keeps this many lines


def ntu_joints(camera: int, frame: int, moving: bool = True) -> np.ndarray:
  """[25, 12] joint fields of a body at a frame (camera changes the colour offset)."""
  j = np.arange(ntu_skeleton.NUM_JOINTS, dtype=np.float64)
  step = frame if moving else 0
  joints = np.zeros((ntu_skeleton.NUM_JOINTS, ntu_skeleton.JOINT_FIELDS))
  joints[:, 0] = 0.01 * j + 0.001 * camera  # x (m)
  joints[:, 1] = 0.02 * step - 0.01 * j  # y (m)
  joints[:, 2] = 3.0 + 0.1 * camera  # z (m)
  joints[:, 3] = 250 + j  # depthX
  joints[:, 4] = 200 + j  # depthY
  joints[:, ntu_skeleton.FIELD_COLOR_X] = 100 * camera + 10 * j + step
  joints[:, ntu_skeleton.FIELD_COLOR_Y] = 50 + 5 * j + 2 * step
  joints[:, 7:11] = (1.0, 0.0, 0.0, 0.0)
  joints[:, ntu_skeleton.FIELD_TRACKING] = 2
  return joints


def _single_body(stem, length, empty_frame=None):
  camera = ntu_skeleton.parse_name(stem).camera
  frames = []
  for frame in range(length):
    joints = ntu_joints(camera, frame)
    if frame == NTU_INFERRED[0]:
      joints[NTU_INFERRED[1], ntu_skeleton.FIELD_TRACKING] = 1
    frames.append([] if frame == empty_frame else [(BODY_MOVING, joints)])
  return frames


def ntu_files() -> dict:
  """{file name: text} of the NTU fixtures."""
  texts = {}
  for stem, length in NTU_LENGTHS.items():
    empty = NTU_EMPTY_FRAME if stem == 'S001C001P001R001A001' else None
    texts[stem] = ntu_skeleton.format_skeleton(_single_body(stem, length, empty))
  swapped = []
  for frame in range(8):
    bodies = [(BODY_STILL, ntu_joints(1, frame, moving=False) + 0.5),
              (BODY_MOVING, ntu_joints(1, frame))]
    swapped.append(bodies if frame % 2 == 0 else bodies[::-1])
  texts[NTU_SWAPPED] = ntu_skeleton.format_skeleton(swapped)
  texts[NTU_TWO_PERSON] = ntu_skeleton.format_skeleton(
      [[(BODY_STILL, ntu_joints(1, f)), (BODY_MOVING, ntu_joints(1, f))] for f in range(4)])
  full = ntu_skeleton.format_skeleton(_single_body(NTU_TRUNCATED, 6))
  texts[NTU_TRUNCATED] = '\r\n'.join(full.split('\r\n')[:NTU_TRUNCATED_LINES]) + '\r\n'
  texts[NTU_LISTED] = ntu_skeleton.format_skeleton(_single_body(NTU_LISTED, 3))
  return {stem + ntu_skeleton.FILE_SUFFIX: text for stem, text in texts.items()}


NTU_MISSING_LIST = ('These samples have missing or incomplete skeleton data.\n'
                    'Ignore them in training and testing.\n\n'
                    'S001C003P001R001A001\n')


def write_ntu(directory: str) -> None:
  os.makedirs(os.path.join(directory, 'skeletons'), exist_ok=True)
  for name, text in ntu_files().items():
    with open(os.path.join(directory, 'skeletons', name), 'w', newline='') as f:
      f.write(text)
  with open(os.path.join(directory, 'missing_list.txt'), 'w') as f:
    f.write(NTU_MISSING_LIST)


# ------------------------------------------------------------------------------------------
# Penn Action: labels/NNNN.mat as in the release (MATLAB v5, written with scipy).

PENN_IMAGE = (480, 640)  # (height, width); `dimensions` stores [height, width, nframes]
# clip id: (action, pose, train, nframes, with bbox, visibility rule)
PENN_CLIPS = {
    '0001': ('baseball_pitch', 'front', 1, 8, True, 'all'),
    '0002': ('bench_press', 'left', -1, 5, False, 'some'),  # no bbox field
    '0003': ('strum_guitar', 'front', 1, 4, True, 'all'),  # class not used
    '0004': ('squat', 'right', 1, 6, True, 'none'),  # person invisible
    '0005': ('golf_swing', 'back', -1, 6, True, 'all'),
    '0006': ('pushup', 'front', 1, 4, True, 'all'),  # malformed: x has a wrong shape
}
PENN_MALFORMED = '0006'
PENN_HIDDEN = (1, 5)  # (frame, joint) hidden in the 'some' clip


def penn_xy(num_frames: int):
  """x, y [nframes, 13] pixels: x = 10 + 5 j + t, y = 20 + 3 j + 2 t."""
  t = np.arange(num_frames, dtype=np.float64)[:, None]
  j = np.arange(13, dtype=np.float64)[None, :]
  return 10 + 5 * j + t, 20 + 3 * j + 2 * t


def penn_visibility(rule: str, num_frames: int) -> np.ndarray:
  visibility = np.ones((num_frames, 13), np.uint8)
  if rule == 'some':
    visibility[PENN_HIDDEN] = 0
  elif rule == 'none':
    visibility[:, 3:] = 0  # 3 of 13 joints visible in every frame
  return visibility


def write_penn(directory: str) -> None:
  import scipy.io  # pylint: disable=g-import-not-at-top
  labels = os.path.join(directory, 'labels')
  os.makedirs(labels, exist_ok=True)
  for clip_id, (action, pose, train, frames, bbox, rule) in PENN_CLIPS.items():
    x, y = penn_xy(frames)
    if clip_id == PENN_MALFORMED:
      x = x[:, :12]
    mat = {'action': action, 'pose': pose, 'x': x, 'y': y,
           'visibility': penn_visibility(rule, frames), 'train': np.array([[train]], float),
           'dimensions': np.array([[PENN_IMAGE[0], PENN_IMAGE[1], frames]], float),
           'nframes': np.array([[frames]], float)}
    if bbox:
      mat['bbox'] = np.column_stack([x.min(1), y.min(1), x.max(1), y.max(1)])
    scipy.io.savemat(os.path.join(labels, f'{clip_id}.mat'), mat)


WRITERS = {NTU: write_ntu, PENN: write_penn}


def write_all(output_dir: str) -> None:
  for name, writer in WRITERS.items():
    writer(os.path.join(output_dir, name))


if __name__ == '__main__':
  write_all(sys.argv[1] if len(sys.argv) > 1 else HERE)
