"""Synthetic human motion (data_prep/README.md): a 17-joint skeleton driven by periodic joint angles.

World and body frames are right-handed with z up; the body frame has x forward and y to the
subject's left. Lengths are in metres. Joints come out in LEGACY_3DH36M17 order as (x, y, z);
`to_yxz` gives the (y, x, z) order of docs/conventions.md.

An action is a program mapping a phase (radians, one period = one cycle of the action) and an
amplitude factor to joint angles (radians). Clips differ in speed, amplitude, phase, length and
small smooth angle noise; subjects differ in bone lengths.

Two more kinds of motion exist besides the class programs: the broad pose prior
(`broad_angles`: every angle moves smoothly between random targets inside its range of motion,
`RANGE_OF_MOTION_DEG`), which the pair records add so that an encoder sees poses beyond twelve
actions, and `HELDOUT_ACTIONS`, programs that no class and no pair record ever uses, on which
retrieval is measured for motion an encoder never saw.
"""

import dataclasses
import math

import numpy as np

from poem_cvmim.core import keypoints

JOINTS = keypoints.get_profile(keypoints.LEGACY_3DH36M17).keypoint_names
_J = {name: i for i, name in enumerate(JOINTS)}

# Mean adult bone lengths in metres (rounded from Human3.6M subjects).
BASE_BONES = {
    'hip_half_width': 0.12, 'hip_to_spine': 0.23, 'spine_to_thorax': 0.25,
    'thorax_to_nose': 0.15, 'thorax_to_head': 0.26, 'shoulder_half_width': 0.17,
    'upper_arm': 0.28, 'forearm': 0.26, 'thigh': 0.44, 'shin': 0.43,
}
BONE_VARIATION = 0.10  # Subjects' bone lengths vary by +-10 % (data_prep/README.md).
BASE_CYCLE_FRAMES = 40.0  # Frames per action cycle at speed 1 (30 fps: 1.3 s).
SPEED_RANGE = (0.7, 1.3)
AMPLITUDE_RANGE = (0.8, 1.2)
CLIP_LENGTH_RANGE = (60, 160)
ANGLE_NOISE_DEG = 2.0  # Standard deviation of the smoothed per-frame angle noise.
ANGLE_NOISE_SMOOTHING = 5  # Frames of the moving average applied to the noise.

ANGLE_NAMES = (
    'torso_bend', 'torso_side', 'torso_twist',
    'l_sh_flex', 'l_sh_abd', 'l_elbow', 'r_sh_flex', 'r_sh_abd', 'r_elbow',
    'l_hip_flex', 'l_hip_abd', 'l_knee', 'r_hip_flex', 'r_hip_abd', 'r_knee')
# Resting pose (degrees): arms slightly away from the body, elbows slightly bent.
REST_DEG = {'l_sh_abd': 8.0, 'r_sh_abd': 8.0, 'l_elbow': 10.0, 'r_elbow': 10.0}


def _up(phase):
  """0 at phase 0, 1 at phase pi: a smooth one-sided cycle."""
  return 0.5 * (1.0 - np.cos(phase))


def _wave(side, p, a):
  return {f'{side}_sh_abd': 150.0 + 15.0 * a * np.sin(p),
          f'{side}_elbow': 30.0 + 25.0 * a * np.cos(p)}


def _squat(p, a):
  knee = 100.0 * a * _up(p)
  return {'l_knee': knee, 'r_knee': knee, 'l_hip_flex': 0.9 * knee, 'r_hip_flex': 0.9 * knee,
          'torso_bend': 0.35 * knee, 'l_sh_flex': 0.7 * knee, 'r_sh_flex': 0.7 * knee}


def _jumping_jack(p, a):
  arms, legs = 15.0 + 145.0 * a * _up(p), 25.0 * a * _up(p)
  return {'l_sh_abd': arms, 'r_sh_abd': arms, 'l_hip_abd': legs, 'r_hip_abd': legs,
          'jump': 0.08 * np.abs(np.sin(p))}


def _punch(p, a):
  left, right = _up(p), _up(p + math.pi)
  return {'l_sh_flex': 85.0 * np.ones_like(p), 'r_sh_flex': 85.0 * np.ones_like(p),
          'l_elbow': 110.0 * (1.0 - a * left), 'r_elbow': 110.0 * (1.0 - a * right),
          'torso_twist': 15.0 * a * np.sin(p)}


def _kick(p, a):
  lift = _up(p)
  return {'r_hip_flex': 80.0 * a * lift, 'r_knee': 200.0 * lift * (1.0 - lift),
          'l_sh_abd': 30.0 + 0 * p, 'r_sh_abd': 30.0 + 0 * p}


def _bow(p, a):
  return {'torso_bend': 70.0 * a * _up(p), 'l_hip_flex': 10.0 * _up(p),
          'r_hip_flex': 10.0 * _up(p)}


def _arm_circles(p, a):
  return {'l_sh_abd': 90.0 + 25.0 * a * np.cos(p), 'r_sh_abd': 90.0 + 25.0 * a * np.cos(p),
          'l_sh_flex': 25.0 * a * np.sin(p), 'r_sh_flex': 25.0 * a * np.sin(p),
          'l_elbow': 5.0 + 0 * p, 'r_elbow': 5.0 + 0 * p}


def _side_bend(p, a):
  side = 30.0 * a * np.sin(p)
  return {'torso_side': side, 'l_sh_abd': 20.0 + np.maximum(-side, 0) * 3.0,
          'r_sh_abd': 20.0 + np.maximum(side, 0) * 3.0}


def _march(p, a):
  left, right = np.maximum(np.sin(p), 0), np.maximum(-np.sin(p), 0)
  return {'l_hip_flex': 60.0 * a * left, 'l_knee': 90.0 * a * left,
          'r_hip_flex': 60.0 * a * right, 'r_knee': 90.0 * a * right,
          'r_sh_flex': 35.0 * a * np.sin(p), 'l_sh_flex': -35.0 * a * np.sin(p),
          'l_elbow': 30.0 + 0 * p, 'r_elbow': 30.0 + 0 * p}


def _reach_up(p, a):
  return {'l_sh_flex': 170.0 * a * _up(p), 'r_sh_flex': 170.0 * a * _up(p + math.pi)}


def _twist(p, a):
  return {'torso_twist': 45.0 * a * np.sin(p), 'l_sh_abd': 85.0 + 0 * p,
          'r_sh_abd': 85.0 + 0 * p}


# Action programs in class order; the first K are used for K classes.
ACTIONS = (
    ('wave_left', lambda p, a: _wave('l', p, a)),
    ('wave_right', lambda p, a: _wave('r', p, a)),
    ('squat', _squat),
    ('jumping_jack', _jumping_jack),
    ('punch', _punch),
    ('kick', _kick),
    ('bow', _bow),
    ('arm_circles', _arm_circles),
    ('side_bend', _side_bend),
    ('march', _march),
    ('reach_up', _reach_up),
    ('twist', _twist),
)
ACTION_NAMES = tuple(name for name, _ in ACTIONS)


# Held-out motion families: never a class, never in a pair record (retrieval on unseen motion).
def _lunge(p, a):
  step = _up(p)
  return {'r_hip_flex': 75.0 * a * step, 'r_knee': 85.0 * a * step,
          'l_hip_flex': -15.0 * step, 'l_knee': 70.0 * a * step, 'torso_bend': 10.0 * step,
          'l_sh_abd': 20.0 + 0 * p, 'r_sh_abd': 20.0 + 0 * p}


def _throw(p, a):
  wind = _up(p)
  return {'r_sh_flex': 150.0 * a * wind - 20.0, 'r_elbow': 100.0 * wind,
          'torso_twist': -30.0 * a * np.sin(p), 'l_sh_flex': 50.0 * (1.0 - wind),
          'l_hip_flex': 20.0 * (1.0 - wind), 'torso_bend': 15.0 * (1.0 - wind)}


def _clap(p, a):
  open_ = _up(p)
  return {'l_sh_flex': 80.0 + 0 * p, 'r_sh_flex': 80.0 + 0 * p,
          'l_sh_abd': 70.0 * a * open_, 'r_sh_abd': 70.0 * a * open_,
          'l_elbow': 25.0 + 0 * p, 'r_elbow': 25.0 + 0 * p}


def _toe_touch(p, a):
  down = _up(p)
  return {'torso_bend': 85.0 * a * down, 'l_sh_flex': 90.0 * down, 'r_sh_flex': 90.0 * down,
          'l_hip_flex': 15.0 * down, 'r_hip_flex': 15.0 * down}


def _crouch_reach(p, a):
  down = _up(p)
  return {'l_knee': 80.0 * a * down, 'r_knee': 80.0 * a * down, 'l_hip_flex': 70.0 * down,
          'r_hip_flex': 70.0 * down, 'torso_bend': 20.0 * down,
          'l_sh_flex': 170.0 * (1.0 - down), 'r_sh_flex': 40.0 * down}


HELDOUT_ACTIONS = (
    ('lunge', _lunge),
    ('throw', _throw),
    ('clap', _clap),
    ('toe_touch', _toe_touch),
    ('crouch_reach', _crouch_reach),
)
HELDOUT_NAMES = tuple(name for name, _ in HELDOUT_ACTIONS)

# The broad prior's range of motion (degrees) of each angle: about the active range of an
# adult (shoulder flexion from 40 degrees of extension to 170, elbow to 140, knee to 130, the
# torso bending forward far more than back), slightly inside the extremes.
RANGE_OF_MOTION_DEG = {
    'torso_bend': (-15.0, 60.0), 'torso_side': (-30.0, 30.0), 'torso_twist': (-45.0, 45.0),
    'l_sh_flex': (-40.0, 170.0), 'l_sh_abd': (0.0, 170.0), 'l_elbow': (0.0, 140.0),
    'r_sh_flex': (-40.0, 170.0), 'r_sh_abd': (0.0, 170.0), 'r_elbow': (0.0, 140.0),
    'l_hip_flex': (-15.0, 100.0), 'l_hip_abd': (-5.0, 40.0), 'l_knee': (0.0, 130.0),
    'r_hip_flex': (-15.0, 100.0), 'r_hip_abd': (-5.0, 40.0), 'r_knee': (0.0, 130.0),
}
# Each angle moves to a new uniform target every BROAD_SEGMENT_FRAMES (a random number in
# this range, per angle) along a cosine ease, so that angles change at different times.
BROAD_SEGMENT_FRAMES = (12, 40)


def broad_angles(num_frames: int, rng: np.random.Generator) -> dict:
  """Joint angles (radians) [T] of the broad prior: smooth random trajectories that visit
  the whole range of motion of every angle independently (no jump)."""
  frames = np.arange(num_frames)
  angles = {}
  for name in ANGLE_NAMES:
    low, high = RANGE_OF_MOTION_DEG[name]
    knots, position = [0], 0
    while position < num_frames - 1:
      position += int(rng.integers(BROAD_SEGMENT_FRAMES[0], BROAD_SEGMENT_FRAMES[1] + 1))
      knots.append(position)
    values = rng.uniform(low, high, len(knots))
    segment = np.clip(np.searchsorted(knots, frames, side='right') - 1, 0, len(knots) - 2)
    start, end = np.asarray(knots)[segment], np.asarray(knots)[segment + 1]
    ease = 0.5 * (1.0 - np.cos(math.pi * (frames - start) / (end - start)))
    angles[name] = np.radians(values[segment] + (values[segment + 1] - values[segment]) * ease)
  angles['jump'] = np.zeros(num_frames)
  return angles


@dataclasses.dataclass(frozen=True)
class Clip:
  """One performance: its subject, class, sampled style and world 3D joints [T, 17, 3]."""
  subject: int
  label: int
  speed: float
  amplitude: float
  phase: float
  facing: float  # World azimuth (radians) the subject faces.
  joints_xyz: np.ndarray


def subject_bones(rng: np.random.Generator) -> dict:
  """Bone lengths of one subject: each bone (left and right alike) scaled by 1 +- 10 %."""
  return {name: length * rng.uniform(1.0 - BONE_VARIATION, 1.0 + BONE_VARIATION)
          for name, length in BASE_BONES.items()}


def action_angles(label: int, num_frames: int, speed: float, amplitude: float, phase: float,
                  rng: np.random.Generator, programs=ACTIONS) -> dict:
  """Joint angles (radians) [T] for every name in ANGLE_NAMES, plus 'jump' (metres), of
  program `label` of `programs` (ACTIONS or HELDOUT_ACTIONS)."""
  phases = phase + 2.0 * math.pi * speed * np.arange(num_frames) / BASE_CYCLE_FRAMES
  program = programs[label][1](phases, amplitude)
  kernel = np.ones(ANGLE_NOISE_SMOOTHING) / ANGLE_NOISE_SMOOTHING
  angles = {}
  for name in ANGLE_NAMES:
    degrees = REST_DEG.get(name, 0.0) + np.asarray(program.get(name, 0.0)) * np.ones(num_frames)
    noise = np.convolve(rng.normal(0.0, ANGLE_NOISE_DEG * math.sqrt(ANGLE_NOISE_SMOOTHING),
                                   num_frames + ANGLE_NOISE_SMOOTHING - 1), kernel, 'valid')
    angles[name] = np.radians(degrees + noise)
  angles['jump'] = np.asarray(program.get('jump', 0.0)) * np.ones(num_frames)
  return angles


def _rx(t):
  c, s = np.cos(t), np.sin(t)
  o, z = np.ones_like(t), np.zeros_like(t)
  return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                   np.stack([z, s, c], -1)], -2)


def _ry(t):
  c, s = np.cos(t), np.sin(t)
  o, z = np.ones_like(t), np.zeros_like(t)
  return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                   np.stack([-s, z, c], -1)], -2)


def _rz(t):
  c, s = np.cos(t), np.sin(t)
  o, z = np.ones_like(t), np.zeros_like(t)
  return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                   np.stack([z, z, o], -1)], -2)


def _apply(rotation, vector):
  return np.einsum('tij,j->ti', rotation, np.asarray(vector, np.float64))


def _limb(parent_rotation, side_sign, flex, abd, bend, bend_sign, upper, lower):
  """Two-segment limb hanging along -z: returns (middle offset, end offset) [T, 3] each."""
  upper_rotation = parent_rotation @ _rx(side_sign * abd) @ _ry(-flex)
  middle = _apply(upper_rotation, [0.0, 0.0, -upper])
  end = middle + _apply(upper_rotation @ _ry(bend_sign * bend), [0.0, 0.0, -lower])
  return middle, end


def forward_kinematics(bones: dict, angles: dict, facing: float) -> np.ndarray:
  """World joints [T, 17, 3] (x, y, z), lowest foot on the ground plus any jump."""
  num = len(angles['torso_bend'])
  torso = _rz(angles['torso_twist']) @ _ry(angles['torso_bend']) @ _rx(-angles['torso_side'])
  pelvis = np.broadcast_to(np.eye(3), (num, 3, 3))
  out = np.zeros((num, len(JOINTS), 3))
  spine = _apply(torso, [0, 0, bones['hip_to_spine']])
  thorax = spine + _apply(torso, [0, 0, bones['spine_to_thorax']])
  out[:, _J['Spine']], out[:, _J['Thorax']] = spine, thorax
  out[:, _J['Neck/Nose']] = thorax + _apply(torso, [0.08, 0, bones['thorax_to_nose']])
  out[:, _J['Head']] = thorax + _apply(torso, [0.02, 0, bones['thorax_to_head']])
  for side, sign in (('L', 1.0), ('R', -1.0)):
    s = side.lower()
    shoulder = thorax + _apply(torso, [0, sign * bones['shoulder_half_width'], -0.02])
    elbow, wrist = _limb(torso, sign, angles[f'{s}_sh_flex'], angles[f'{s}_sh_abd'],
                         angles[f'{s}_elbow'], -1.0, bones['upper_arm'], bones['forearm'])
    hip = _apply(pelvis, [0, sign * bones['hip_half_width'], 0])
    knee, foot = _limb(pelvis, sign, angles[f'{s}_hip_flex'], angles[f'{s}_hip_abd'],
                       angles[f'{s}_knee'], 1.0, bones['thigh'], bones['shin'])
    out[:, _J[f'{side}Shoulder']] = shoulder
    out[:, _J[f'{side}Elbow']], out[:, _J[f'{side}Wrist']] = shoulder + elbow, shoulder + wrist
    out[:, _J[f'{side}Hip']] = hip
    out[:, _J[f'{side}Knee']], out[:, _J[f'{side}Foot']] = hip + knee, hip + foot
  ground = out[:, [_J['LFoot'], _J['RFoot']], 2].min(axis=1)
  out[..., 2] += (angles['jump'] - ground)[:, None]
  return np.einsum('ij,tkj->tki', _rz(np.array(facing)), out)


BROAD = -1  # the label of a broad-prior clip


def sample_clip(subject: int, bones: dict, label: int, facing: float,
                rng: np.random.Generator, programs=ACTIONS) -> Clip:
  """Draws the style of one performance and computes its joints; label BROAD draws a
  broad-prior clip instead of a program's."""
  num_frames = int(rng.integers(CLIP_LENGTH_RANGE[0], CLIP_LENGTH_RANGE[1] + 1))
  if label == BROAD:
    return Clip(subject, label, 1.0, 1.0, 0.0, facing,
                forward_kinematics(bones, broad_angles(num_frames, rng), facing))
  speed = float(rng.uniform(*SPEED_RANGE))
  amplitude = float(rng.uniform(*AMPLITUDE_RANGE))
  phase = float(rng.uniform(0.0, 2.0 * math.pi))
  angles = action_angles(label, num_frames, speed, amplitude, phase, rng, programs)
  return Clip(subject, label, speed, amplitude, phase, facing,
              forward_kinematics(bones, angles, facing))


def to_yxz(points_xyz: np.ndarray) -> np.ndarray:
  """(x, y, z) -> (y, x, z), the storage order of docs/conventions.md."""
  return points_xyz[..., [1, 0, 2]]
