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


# ------------------------------------------------------------------------------------------
# Human3.6M: a 3d-pose-baseline .h5 tree with a detection CSV, VideoPose3D .npz files and an
# official D3_Positions .cdf.

H36M_CAMERAS = ('54138969', '55011271', '58860488', '60457274')
H36M_SIZES = {'54138969': (1002, 1000), '55011271': (1000, 1000), '58860488': (1000, 1000),
              '60457274': (1002, 1000)}  # (height, width)
# (subject, file stem as stored, frames); 'Photo' is the alias of 'TakingPhoto'.
H36M_H5 = (('S1', 'Directions 1', 4), ('S9', 'Photo', 3))
H36M_H5_MALFORMED = ('S5', 'Eating')  # '3D_positions' of shape (95, 2)
H36M_VIDEOPOSE3D = (('S1', 'Directions 1', 4), ('S11', 'WalkDog', 3))
H36M_CDF = ('S5', 'Directions', 3)
H36M_CSV_MISSING = ('60457274', 3)  # (camera, frame) of S1 'Directions 1' without a row
H36M_CSV_BAD_LINE = 6  # a row with a wrong number of columns
COCO13 = ('NOSE_TIP', 'LEFT_SHOULDER', 'RIGHT_SHOULDER', 'LEFT_ELBOW', 'RIGHT_ELBOW',
          'LEFT_WRIST', 'RIGHT_WRIST', 'LEFT_HIP', 'RIGHT_HIP', 'LEFT_KNEE', 'RIGHT_KNEE',
          'LEFT_ANKLE', 'RIGHT_ANKLE')


def h36m_pose(frame: int, subject: str) -> np.ndarray:
  """[32, 3] world mm of a standing person near the origin (z up)."""
  j = np.arange(32, dtype=np.float64)
  shift = 10.0 * int(subject[1:])
  return np.stack([40 * (j % 5) - 80 + 10 * frame + shift, 30 * (j % 3) - 30,
                   100 + 50 * j], axis=-1)


def h36m_poses(subject: str, frames: int) -> np.ndarray:
  return np.stack([h36m_pose(t, subject) for t in range(frames)])


def h36m_detection(camera_index: int, frame: int) -> np.ndarray:
  """[13, 3] CSV detection (x, y, score), normalised."""
  j = np.arange(13, dtype=np.float64)
  return np.stack([0.3 + 0.01 * j + 0.001 * frame + 0.05 * camera_index,
                   0.2 + 0.02 * j + 0.002 * frame, 0.9 - 0.01 * j], axis=-1)


def videopose3d_2d(camera_index: int, frames: int) -> np.ndarray:
  """[frames, 17, 2] pixels (x, y) of VideoPose3D joint k: (100 + 10 k + t + 7 c, 200 + 20 k + 2 t)."""
  t = np.arange(frames, dtype=np.float64)[:, None]
  k = np.arange(17, dtype=np.float64)[None, :]
  return np.stack(np.broadcast_arrays(100 + 10 * k + t + 7 * camera_index,
                                      200 + 20 * k + 2 * t), axis=-1)


def _csv_entry(subject, action, camera_index, frame):
  camera = H36M_CAMERAS[camera_index]
  height, width = H36M_SIZES[camera]
  values = [f'{v:.6f}' for v in h36m_detection(camera_index, frame).ravel()]
  # Cameras are named by id, except the second, named by its 1-based index.
  name = str(camera_index + 1) if camera_index == 1 else camera
  return [subject, action, name, str(frame), str(width), str(height)] + values


def h36m_csv() -> str:
  header = ['subject', 'subaction', 'camera', 'frame', 'width', 'height'] + [
      f'{n}_{c}' for n in COCO13 for c in ('x', 'y', 'score')]
  rows = [header]
  for frame in range(4):  # S1: cameras 1-2 as single entries, cameras 3-4 as a pair
    rows.append(_csv_entry('S1', 'Directions 1', 0, frame))
    rows.append(_csv_entry('S1', 'Directions 1', 1, frame))
    if (H36M_CAMERAS[3], frame) != H36M_CSV_MISSING:
      rows.append(_csv_entry('S1', 'Directions 1', 2, frame) +
                  _csv_entry('S1', 'Directions 1', 3, frame))
    else:
      rows.append(_csv_entry('S1', 'Directions 1', 2, frame))
  rows.insert(H36M_CSV_BAD_LINE - 1, ['S1', 'Directions 1', '54138969', '0', '1000'])
  for frame in range(3):
    for camera_index in range(4):
      rows.append(_csv_entry('S9', 'TakingPhoto', camera_index, frame))
  return ''.join(','.join(row) + '\n' for row in rows)


def write_h36m(directory: str) -> None:
  import cdflib.cdfwrite  # pylint: disable=g-import-not-at-top
  import h5py  # pylint: disable=g-import-not-at-top
  for subject, stem, frames in H36M_H5 + (H36M_H5_MALFORMED + (2,),):
    folder = os.path.join(directory, 'h5', subject, 'MyPoses', '3D_positions')
    os.makedirs(folder, exist_ok=True)
    data = h36m_poses(subject, frames).reshape(frames, 96).T
    if (subject, stem) == H36M_H5_MALFORMED:
      data = data[:95]
    with h5py.File(os.path.join(folder, f'{stem}.h5'), 'w') as f:
      f.create_dataset('3D_positions', data=data, track_order=False)
  with open(os.path.join(directory, 'detections.csv'), 'w') as f:
    f.write(h36m_csv())
  positions_3d, positions_2d = {}, {}
  for subject, action, frames in H36M_VIDEOPOSE3D:
    positions_3d.setdefault(subject, {})[action] = h36m_poses(subject, frames) / 1000.0
    positions_2d.setdefault(subject, {})[action] = [videopose3d_2d(c, frames)
                                                    for c in range(4)]
  np.savez(os.path.join(directory, 'data_3d_h36m.npz'), positions_3d=positions_3d)
  np.savez(os.path.join(directory, 'data_2d_h36m_gt.npz'), positions_2d=positions_2d,
           metadata={'layout_name': 'h36m', 'num_joints': 17})
  subject, stem, frames = H36M_CDF
  folder = os.path.join(directory, 'cdf', subject, 'MyPoseFeatures', 'D3_Positions')
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f'{stem}.cdf')
  if os.path.exists(path):
    os.remove(path)
  writer = cdflib.cdfwrite.CDF(path)
  writer.write_var({'Variable': 'Pose', 'Data_Type': cdflib.cdfwrite.CDF.CDF_DOUBLE,
                    'Num_Elements': 1, 'Rec_Vary': True, 'Dim_Sizes': [frames, 96]},
                   var_data=h36m_poses(subject, frames).reshape(1, frames, 96))
  writer.close()


WRITERS = {NTU: write_ntu, PENN: write_penn, H36M: write_h36m}


def write_all(output_dir: str) -> None:
  for name, writer in WRITERS.items():
    writer(os.path.join(output_dir, name))


if __name__ == '__main__':
  write_all(sys.argv[1] if len(sys.argv) > 1 else HERE)
