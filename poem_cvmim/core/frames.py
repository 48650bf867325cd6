"""The frames one camera saw, as retrieval, Figure 4, lifting and the detection readers pass
them: "frames by view" is `{camera: Frames}`.

It lives in `core` because the detection readers (`core.detections.read_rig`) return it; the
evaluation room (`evaluation.retrieval`) loads it from records and scores it.
"""

import dataclasses
from typing import Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class Frames:
  """N frames of one camera, row-aligned.

  poses: [N, J, 2] profile-normalised 2D poses (`LEGACY_2DCOCO13`).
  clips: [N] str, the performance each frame belongs to (the same across cameras).
  frames: [N] int, the frame number within its clip (the same number = the same instant).
  poses_3d: [N, 17, 3] normalised 3D (`LEGACY_3DH36M17`), where the source holds 3D.
  poses_3d_mm: [N, 17, 3] root-relative 3D in the source's unit, with `poses_3d`.
  filled: [N, J] bool, joints a detector missed and the reader filled (detections only).
  """
  poses: np.ndarray
  clips: np.ndarray
  frames: np.ndarray
  poses_3d: Optional[np.ndarray] = None
  poses_3d_mm: Optional[np.ndarray] = None
  filled: Optional[np.ndarray] = None

  def __post_init__(self):
    lengths = {name: len(value) for name, value in self._arrays().items()}
    if len(set(lengths.values())) > 1:
      raise ValueError(f'Frames of unequal lengths: {lengths}.')

  def _arrays(self) -> dict:
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None}

  def __len__(self) -> int:
    return len(self.frames)

  @property
  def has_3d(self) -> bool:
    return self.poses_3d is not None

  def select(self, rows) -> 'Frames':
    """The frames at `rows` (indices or a boolean mask), in that order."""
    return Frames(**{name: value[rows] for name, value in self._arrays().items()})

  def stride(self, frame_stride: int) -> 'Frames':
    """The frames whose frame number is a multiple of `frame_stride`."""
    return self.select(self.frames % frame_stride == 0)

  def replace(self, **values) -> 'Frames':
    return dataclasses.replace(self, **values)

  @staticmethod
  def concat(parts) -> 'Frames':
    """The frames of `parts` one after another; they must hold the same optional arrays."""
    parts = list(parts)
    held = [set(p._arrays()) for p in parts]
    if any(h != held[0] for h in held):
      raise ValueError(f'Frames to concatenate hold different arrays: {held}.')
    return Frames(**{name: np.concatenate([getattr(p, name) for p in parts])
                     for name in held[0]})
