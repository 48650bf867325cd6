"""Synthetic cameras (data_prep/README.md): view sets, pinhole projection to pixels, detector noise.

A camera sits at a world azimuth around the subject's hips, at an elevation, looking at the
hips. Azimuth 0 relative to the subject is in front of them, 90 degrees on their left.
"""

import dataclasses
import math

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import keypoints

IMAGE_HEIGHT, IMAGE_WIDTH = 1080, 1920
FOCAL_LENGTH_PX = 1000.0
CAMERA_DISTANCE_RANGE = (3.5, 5.0)  # metres
LOOK_AT_HEIGHT = 0.9  # metres above the ground: about hip height.
PIXEL_NOISE_STD = 2.0  # Gaussian detector noise (data_prep/README.md).
DROP_RATE = 0.02  # Fraction of joints "missed" by the detector: score 0, far-off position.
DROPPED_NOISE_STD = 25.0  # pixels
SCORE_RANGE = (0.7, 1.0)  # Scores of detected joints.

PENN_LIKE = 'penn_like'
NTU_LIKE = 'ntu_like'
VIEW_SETS = (PENN_LIKE, NTU_LIKE)
# Penn-like: relative azimuth of each view (degrees), jittered by +-15; elevation +-10.
PENN_VIEWS = {'front': 0.0, 'back': 180.0, 'left': 90.0, 'right': -90.0}
PENN_AZIMUTH_JITTER = 15.0
ELEVATION_JITTER = 10.0
# NTU-like: three cameras at world azimuths -45, 0, 45; in replication 1 the subject faces
# camera 2 (-45), in replication 2 camera 3 (+45), as NTU's subjects face the left or right
# camera. Views are camera x replication.
NTU_CAMERAS = {1: 0.0, 2: -45.0, 3: 45.0}
NTU_FACING = {1: -45.0, 2: 45.0}
NTU_FACING_JITTER = 5.0
NTU_VIEWS = tuple(f'C{c}R{r}' for c in NTU_CAMERAS for r in NTU_FACING)
# Capture cameras of the pair records (like Human3.6M's four corners), world azimuths.
PAIR_CAMERAS = (45.0, 135.0, -135.0, -45.0)

_H36M13 = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).compatible_indices(
    keypoints.LEGACY_3DH36M17)


@dataclasses.dataclass(frozen=True)
class Camera:
  azimuth: float  # world azimuth of the camera position, radians
  elevation: float  # radians
  distance: float  # metres


def view_names(view_set: str) -> tuple:
  if view_set == PENN_LIKE:
    return tuple(PENN_VIEWS)
  if view_set == NTU_LIKE:
    return NTU_VIEWS
  raise errors.InputError(f'Unknown view set {view_set!r}; valid: {", ".join(VIEW_SETS)}.')


def random_camera(world_azimuth_deg: float, rng: np.random.Generator,
                  azimuth_jitter_deg: float = 0.0) -> Camera:
  azimuth = world_azimuth_deg + rng.uniform(-azimuth_jitter_deg, azimuth_jitter_deg)
  elevation = rng.uniform(-ELEVATION_JITTER, ELEVATION_JITTER)
  return Camera(math.radians(azimuth), math.radians(elevation),
                float(rng.uniform(*CAMERA_DISTANCE_RANGE)))


def project_to_pixels(joints_xyz: np.ndarray, camera: Camera) -> np.ndarray:
  """Pinhole projection of world joints [..., J, 3] to pixel (y, x) [..., J, 2]."""
  target = np.array([0.0, 0.0, LOOK_AT_HEIGHT])
  direction = np.array([math.cos(camera.elevation) * math.cos(camera.azimuth),
                        math.cos(camera.elevation) * math.sin(camera.azimuth),
                        math.sin(camera.elevation)])
  position = target + camera.distance * direction
  forward = -direction
  right = np.cross(forward, [0.0, 0.0, 1.0])
  right /= np.linalg.norm(right)
  down = np.cross(forward, right)
  relative = joints_xyz - position
  depth = relative @ forward
  x = IMAGE_WIDTH / 2.0 + FOCAL_LENGTH_PX * (relative @ right) / depth
  y = IMAGE_HEIGHT / 2.0 + FOCAL_LENGTH_PX * (relative @ down) / depth
  return np.stack([y, x], axis=-1)


def project_13(joints_xyz: np.ndarray, camera: Camera) -> np.ndarray:
  """Exact (y, x) pixels [T, 13, 2] of the 13 LEGACY_2DCOCO13 joints of world poses [T, 17, 3]
  (what `detect` adds its noise to)."""
  return project_to_pixels(joints_xyz[..., _H36M13, :], camera)


def detect(joints_xyz: np.ndarray, camera: Camera, rng: np.random.Generator):
  """Simulated 13-joint detections of 17-joint world poses [T, 17, 3].

  Returns (keypoints_2d [T, 13, 2] (y, x) normalised to [0, 1] by image height and width,
  scores [T, 13]). A dropped joint gets score 0 and a far-off position.
  """
  pixels = project_13(joints_xyz, camera)
  pixels = pixels + rng.normal(0.0, PIXEL_NOISE_STD, pixels.shape)
  scores = rng.uniform(*SCORE_RANGE, pixels.shape[:-1])
  dropped = rng.uniform(size=pixels.shape[:-1]) < DROP_RATE
  pixels = pixels + dropped[..., None] * rng.normal(0.0, DROPPED_NOISE_STD, pixels.shape)
  scores = np.where(dropped, 0.0, scores)
  normalized = keypoints.to_unit(pixels, [IMAGE_HEIGHT, IMAGE_WIDTH])
  return normalized.astype(np.float32), scores.astype(np.float32)


def view_cameras(view_set: str, facing_rng: np.random.Generator,
                 replication: int = 1) -> tuple:
  """Subject facing (radians) and {view: Camera} for one performance of a view set."""
  cameras = {}
  if view_set == PENN_LIKE:
    facing = facing_rng.uniform(-math.pi, math.pi)
    for view, relative in PENN_VIEWS.items():
      cameras[view] = random_camera(math.degrees(facing) + relative, facing_rng,
                                    PENN_AZIMUTH_JITTER)
    return facing, cameras
  if view_set == NTU_LIKE:
    facing_deg = NTU_FACING[replication] + facing_rng.uniform(-NTU_FACING_JITTER,
                                                              NTU_FACING_JITTER)
    for camera_id, azimuth in NTU_CAMERAS.items():
      cameras[f'C{camera_id}R{replication}'] = random_camera(azimuth, facing_rng)
    return math.radians(facing_deg), cameras
  raise errors.InputError(f'Unknown view set {view_set!r}; valid: {", ".join(VIEW_SETS)}.')
