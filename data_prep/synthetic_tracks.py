"""Clean 2D tracks of the synthetic set for the keypoint refiner (`poem_cvmim.temporal`).

The same performances and cameras as the record parts, but the *exact* projections of the 13
joints (no detector noise), as `core.tracks` files under `<output_dir>/refiner/`:

- `train.npz`: the training subjects' class clips in every view set's cameras and their
  broad-prior clips in the pair cameras;
- `heldout_subjects.npz`: the test subjects' class clips (motion programs seen in training,
  performers not);
- `heldout_motion.npz`: the test subjects' held-out programs (`heldout_motion/`'s clips):
  neither the performer nor the motion was seen.

The refiner's detector model (`temporal.noise`) corrupts them at training and evaluation time.
"""

import os

import numpy as np

from data_prep import synthetic_dataset as dataset
from data_prep import synthetic_views as views
from poem_cvmim.core import tracks as tracks_lib

REFINER_DIR = 'refiner'
TRAIN, HELDOUT_SUBJECTS, HELDOUT_MOTION = 'train', 'heldout_subjects', 'heldout_motion'
PARTS = (TRAIN, HELDOUT_SUBJECTS, HELDOUT_MOTION)


def _collect(items):
  points, clips, cameras_of, subjects = [], [], [], []
  for clip, name, cameras in items:
    for view, camera in cameras.items():
      points.append(views.project_13(clip.joints_xyz, camera).astype(np.float32))
      clips.append(name)
      cameras_of.append(view)
      subjects.append(dataset.subject_name(clip.subject))
  return tracks_lib.from_list(points, clips, cameras_of, subjects,
                              [views.IMAGE_HEIGHT, views.IMAGE_WIDTH])


def part_tracks(config: dataset.SyntheticConfig, part: str) -> tracks_lib.TrackSet:
  """The clean tracks of one part (see the module docstring)."""
  items = []
  if part in (TRAIN, HELDOUT_SUBJECTS):
    split = dataset.TRAIN if part == TRAIN else dataset.TEST
    for index, view_set in enumerate(config.view_sets):
      for clip, number, cameras in dataset.performances(config, index):
        if config.split_of(clip.subject) == split:
          items.append((clip, f'{view_set}_{dataset.clip_name(clip, number)}', cameras))
    if part == TRAIN:
      for clip, number in dataset.broad_performances(config):
        cameras = {f'cam{k + 1}': camera
                   for k, camera in enumerate(dataset.pair_cameras(config, clip, number)[0])}
        items.append((clip, dataset.clip_name(clip, number), cameras))
  elif part == HELDOUT_MOTION:
    for clip, number, cameras in dataset.retrieval_performances(config, dataset.HELDOUT_DIR):
      items.append((clip, dataset.clip_name(clip, number, 'H'), cameras))
  else:
    raise ValueError(f'Unknown refiner part {part!r}; valid: {", ".join(PARTS)}.')
  return _collect(items)


def write(config: dataset.SyntheticConfig, output_dir: str, log=print) -> dict:
  """Writes `<output_dir>/refiner/<part>.npz` for every part; returns {part: path}."""
  paths = {}
  for part in PARTS:
    tracks = part_tracks(config, part)
    paths[part] = os.path.join(output_dir, REFINER_DIR, f'{part}.npz')
    tracks_lib.save(paths[part], tracks)
    log(f'[synthetic] {REFINER_DIR}/{part}.npz: {len(tracks)} tracks, {tracks.num_frames} frames')
  return paths
