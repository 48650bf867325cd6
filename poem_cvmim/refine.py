r"""Refines 2D detector output with a trained TDMI refiner and writes it back in its format.

  python -m poem_cvmim.refine --refiner=runs/refiner --input=openpose/cam1 --output=refined/cam1
  python -m poem_cvmim.refine --refiner=runs/refiner --input=rig/take1 --rig --output=refined/take1

--input is one camera's detections in any format the project reads (an OpenPose folder, a COCO
results file, MMPose predictions, MediaPipe landmarks; --format=auto tells them apart), or with
--rig a folder of cameras (one sub-folder or .json file each, as `--rig` of data_prep.detections
reads it). The output keeps the format, the file names, every person and every frame: the person
the readers keep (--person) has its 13 joints replaced by the refined ones, and joints that were
missing (confidence <= --min_score) get --filled_score. Point `embed`, `evaluate_retrieval`,
`data_prep.detections` or a converter at the output instead of the input.
"""

import os
import time

from absl import app
from absl import flags
import numpy as np

from poem_cvmim.core import cli
from poem_cvmim.core import detection_writers
from poem_cvmim.core import detections
from poem_cvmim.core import errors
from poem_cvmim.core import pose_inputs

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('refiner', None, 'Refiner run directory (poem_cvmim.train_refiner).')
  flags.DEFINE_string('input', None, 'One camera\'s detections (a folder or file), or with --rig '
                      'a folder of cameras.')
  flags.DEFINE_string('output', None, 'Folder to write the refined files into.')
  flags.DEFINE_boolean('rig', False, '--input is a folder of cameras (one sub-folder or .json '
                       'file each).')
  flags.DEFINE_enum('format', 'auto', detections.FORMATS, 'Detector format.')
  flags.DEFINE_enum('layout', None, list(detections.LAYOUTS), 'OpenPose joint layout (default: '
                    'from the joint count).')
  flags.DEFINE_enum('person', 'most_confident', detections.PERSON_RULES, 'Which person of a '
                    'frame is the track (the others are written back unchanged).')
  flags.DEFINE_float('min_score', 0.0, 'A joint at or below this confidence is missing.')
  flags.DEFINE_float('filled_score', 0.1, 'Confidence written for a joint that was missing and '
                     'now has a refined position (0: keep it marked missing).')
  flags.DEFINE_list('image_size', None, 'HEIGHT,WIDTH: the coordinates are in [0, 1] of the '
                    'image (MediaPipe\'s normalised landmarks).')
  flags.DEFINE_boolean('overwrite', False, 'Write into an --output folder that is not empty.')


def _image_size(values):
  if values is None:
    return None
  try:
    height, width = (float(v) for v in values)
  except ValueError:
    raise errors.InputError(f'--image_size={",".join(values)}: expected HEIGHT,WIDTH '
                            'in pixels.') from None
  if height <= 0 or width <= 0:
    raise errors.InputError('--image_size: HEIGHT and WIDTH must be positive.')
  return height, width


def refine_camera(trained, path: str, output: str, image_size,
                  format: str = 'auto', layout=None, person: str = 'most_confident',
                  min_score: float = 0.0, filled_score: float = 0.1) -> tuple:
  """Refines one camera's files into `output` with a `temporal.refiner.TrainedRefiner`;
  returns (frames, files written)."""
  format = detections.detect_format(path) if format == 'auto' else format
  track = detections.read_track(path, format, layout, person)
  found = track.people >= 0
  if not found.any():
    raise errors.InputError(f'{path}: nobody is detected in any frame; nothing to refine.')
  pixels = np.zeros_like(track.points)
  pixels[found] = pose_inputs.to_pixels(track.points[found], image_size, path)
  # A joint at or below --min_score is missing for the refiner too (its confidence input 0).
  scores = np.where(found[:, None] & (track.scores > min_score), track.scores, 0.0)
  refined = trained.refine(pixels, scores)
  written = detection_writers.write_refined(path, format, track, refined, output, min_score,
                                            filled_score, image_size)
  return len(track), len(written)


def main(argv):
  del argv
  if not (FLAGS.refiner and FLAGS.input and FLAGS.output):
    raise app.UsageError('--refiner, --input and --output are required.')
  if not os.path.exists(FLAGS.input):
    raise FileNotFoundError(f'No such file or folder: {FLAGS.input}')
  if os.path.abspath(FLAGS.output) == os.path.abspath(FLAGS.input):
    raise errors.InputError('--output is --input: the refined files would replace the '
                            'detections; choose another folder.')
  if os.path.isdir(FLAGS.output) and os.listdir(FLAGS.output) and not FLAGS.overwrite:
    raise errors.InputError(f'{FLAGS.output} is not empty; pass --overwrite to write into it.')
  image_size = _image_size(FLAGS.image_size)
  from poem_cvmim.temporal import refiner as refiner_lib  # pylint: disable=g-import-not-at-top
  trained = refiner_lib.load(FLAGS.refiner)
  cameras = (detections.rig_cameras(FLAGS.input) if FLAGS.rig
             else {'': FLAGS.input})
  start, total = time.time(), 0
  for camera, path in cameras.items():
    output = os.path.join(FLAGS.output, os.path.basename(os.path.normpath(path))
                          if FLAGS.rig and os.path.isdir(path) else '')
    frames, files = refine_camera(trained, path, output, image_size, FLAGS.format, FLAGS.layout,
                                  FLAGS.person, FLAGS.min_score, FLAGS.filled_score)
    total += frames
    print(f'{path}: {frames} frames refined -> {os.path.normpath(output)} ({files} files)')
  print(f'{total} frames in {time.time() - start:.1f} s')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
