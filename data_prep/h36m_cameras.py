"""Human3.6M cameras: the shipped calibration and projection of world 3D to pixels.

`data_prep/data/h36m_cameras.json` holds the four cameras' intrinsics and each subject's
extrinsics (its `source` field names where the numbers come from). Projection follows the
3d-pose-baseline / Human3.6M tools: world -> camera by R (X - T), then radial (k1, k2, k3) and
tangential (p1, p2) distortion, then focal length and principal point.
"""

import dataclasses
import json
import os
from typing import Dict, Tuple

import numpy as np

from poem_cvmim.core import keypoints

CALIBRATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data',
                           'h36m_cameras.json')
# Camera ids in the order every Human3.6M tool uses (VideoPose3D's 2D arrays follow it).
CAMERA_IDS = ('54138969', '55011271', '58860488', '60457274')


@dataclasses.dataclass(frozen=True)
class Camera:
  id: str
  rotation: np.ndarray  # [3, 3] world -> camera
  translation: np.ndarray  # [3] camera centre in world coordinates, mm
  focal_length: np.ndarray  # [2] (fx, fy) pixels
  center: np.ndarray  # [2] (cx, cy) pixels
  radial: np.ndarray  # [3] k1, k2, k3
  tangential: np.ndarray  # [2] p1, p2
  image_size: Tuple[int, int]  # (height, width)


def quaternion_matrix(q) -> np.ndarray:
  """Rotation matrix of a unit quaternion (w, x, y, z)."""
  w, x, y, z = np.asarray(q, np.float64) / np.linalg.norm(q)
  return np.array([
      [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def load_cameras(path: str = CALIBRATION) -> Dict[str, Tuple[Camera, ...]]:
  """{subject: four Cameras in CAMERA_IDS order} for the subjects with extrinsics (read each
  time: 9 kB, about 0.1 ms, a few times per converted sequence)."""
  with open(path) as f:
    data = json.load(f)
  intrinsics = {entry['id']: entry for entry in data['intrinsics']}
  cameras = {}
  for subject, extrinsics in data['extrinsics'].items():
    cameras[subject] = tuple(
        Camera(id=camera_id,
               rotation=quaternion_matrix(extrinsic['orientation']).T,
               translation=np.asarray(extrinsic['translation'], np.float64),
               focal_length=np.asarray(intrinsics[camera_id]['focal_length'], np.float64),
               center=np.asarray(intrinsics[camera_id]['center'], np.float64),
               radial=np.asarray(intrinsics[camera_id]['radial_distortion'], np.float64),
               tangential=np.asarray(intrinsics[camera_id]['tangential_distortion'],
                                     np.float64),
               image_size=(intrinsics[camera_id]['res_h'], intrinsics[camera_id]['res_w']))
        for camera_id, extrinsic in zip(CAMERA_IDS, extrinsics))
  return cameras


def world_to_camera(points: np.ndarray, camera: Camera) -> np.ndarray:
  """[..., 3] world mm -> [..., 3] camera coordinates mm (x right, y down, z forward)."""
  return (np.asarray(points, np.float64) - camera.translation) @ camera.rotation.T


def project(points: np.ndarray, camera: Camera) -> np.ndarray:
  """[..., 3] world mm -> [..., 2] pixels (u, v) = (column, row), with lens distortion."""
  local = world_to_camera(points, camera)
  xy = local[..., :2] / local[..., 2:]
  r2 = np.sum(xy ** 2, axis=-1, keepdims=True)
  k1, k2, k3 = camera.radial
  p1, p2 = camera.tangential
  radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
  tangential = p1 * xy[..., 1:] + p2 * xy[..., :1]
  distorted = xy * (radial + tangential) + np.array([p2, p1]) * r2
  return distorted * camera.focal_length + camera.center


def project_normalized(points: np.ndarray, camera: Camera) -> np.ndarray:
  """[..., 3] world mm -> [..., 2] (y, x) normalised by the image height and width."""
  pixels = project(points, camera)
  # (x, y) -> (y, x); a joint axis of one for to_unit, which scales [..., J, 2].
  return keypoints.to_unit(pixels[..., np.newaxis, ::-1], camera.image_size)[..., 0, :]
