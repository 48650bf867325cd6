r"""Cross-view pose retrieval: Hit@k of embeddings for every ordered pair of cameras.

  # Your own cameras: one sub-folder (OpenPose / MMPose per-frame JSON) or .json file
  # (COCO results / MMPose predictions) per camera, frame numbers synchronised.
  python -m poem_cvmim.evaluate_retrieval --detections=my_rig \
      --embedders=raw,runs/cvmim --output_dir=out/retrieval

  # Sequence records with several views of each clip (3D enables the pose criterion):
  python -m poem_cvmim.evaluate_retrieval --sequences=out/synthetic/heldout_motion \
      --embedders=raw,runs/cvmim --criteria=frame,pose --frame_stride=4

  # Converted pair records (e.g. Human3.6M S9/S11): each camera's frames, once each.
  python -m poem_cvmim.evaluate_retrieval --pairs='h36m/test-*' --embedders=runs/cvmim \
      --criteria=frame,pose --frame_stride=10 [--cameras=54138969,60457274]

A query is a frame of one camera; the gallery is every frame of another camera. A hit at k:
one of the k nearest gallery frames is the same instant (same clip, frame within
--tolerance) [frame], or its 3D pose is within --mpjpe_threshold of the query's after
Procrustes alignment (Pr-VIPE's NP-MPJPE) [pose], or its root-relative MPJPE is within
--mpjpe_mm_threshold in the records' unit [mpjpe: records with one world frame]. mAP@k beside
Hit@k. Also reported: how often a frame's nearest neighbour among other clips comes from its own
camera, for z_v (high: it encodes the view) and z_p (near chance: it does not). Writes
retrieval.json and retrieval.md to --output_dir.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

from poem_cvmim.core import cli
from poem_cvmim.core import errors
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import detections
from poem_cvmim.evaluation import frame_sources
from poem_cvmim.evaluation import retrieval

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_list('detections', None, 'Folders of detector output, one per recording: each '
                    'holds one sub-folder or .json file per camera.')
  flags.DEFINE_string('sequences', None, 'A sequence record directory with several views.')
  flags.DEFINE_string('split', 'test', 'The split of --sequences.')
  flags.DEFINE_string('pairs', None, 'File pattern of pair records (two cameras each).')
  flags.DEFINE_list('embedders', ['raw'], '"raw", training directories and/or SavedModels.')
  flags.DEFINE_enum('format', 'auto', detections.FORMATS, 'Detector output format.')
  flags.DEFINE_enum('layout', None, list(detections.LAYOUTS),
                    'OpenPose joint layout (default from the joint count; BODY_25B must be named).')
  flags.DEFINE_enum('person', 'most_confident', detections.PERSON_RULES,
                    'Which person of a frame with several.')
  flags.DEFINE_float('min_score', 0.0, 'A joint with this confidence or less is missing.')
  flags.DEFINE_list('image_size', None, 'HEIGHT,WIDTH when detections are in [0, 1] units.')
  cli.register_check('image_size', pose_inputs.parse_image_size)
  flags.DEFINE_integer('frame_stride', 1, 'Use every n-th frame (record for --pairs).',
                       lower_bound=1)
  flags.DEFINE_list('criteria', None, 'frame, pose and/or mpjpe (default: frame, plus pose when '
                    'the frames have 3D).')
  cli.register_check('criteria', check_criteria)
  flags.DEFINE_integer('tolerance', 0, 'Frames of difference that still count (frame).',
                       lower_bound=0)
  flags.DEFINE_float('mpjpe_threshold', retrieval.NP_MPJPE_THRESHOLD,
                     'Largest aligned 3D MPJPE of a hit (pose criterion).', lower_bound=0.0)
  flags.DEFINE_float('mpjpe_mm_threshold', retrieval.MPJPE_MM_THRESHOLD,
                     'Largest root-relative 3D MPJPE of a hit, in the records\' unit (mpjpe '
                     'criterion).', lower_bound=0.0)
  flags.DEFINE_enum('metric', 'l2', retrieval.METRICS, 'Embedding distance.')
  flags.DEFINE_list('ks', ['1', '5', '10'], 'The k of Hit@k.')
  cli.register_check('ks', parse_ks)
  flags.DEFINE_list('detector_noise', None, 'MISS_RATE,JITTER,SWAP_RATE: add detector-like '
                    'errors to every camera\'s poses before embedding (missed joints, filled '
                    'as detector output is; Gaussian jitter in normalised units, where the '
                    'torso\'s largest side is 0.5; whole-body left/right flips), e.g. '
                    '0.1,0.01,0.05.')
  cli.register_check('detector_noise', parse_detector_noise)
  flags.DEFINE_integer('noise_seed', 0, 'Seed of --detector_noise.')
  flags.DEFINE_list('cameras', None, 'Only these cameras (views), at least two (default: all).')
  flags.DEFINE_string('output_dir', None, 'Where retrieval.json and retrieval.md go.')


parse_ks = cli.whole_numbers('ks', 1)  # the k of Hit@k


def check_criteria(values) -> None:
  unknown = [v for v in values if v not in retrieval.CRITERIA]
  if unknown or not values:
    raise errors.InputError(f'--criteria={",".join(values)}: each must be one of '
                            f'{", ".join(retrieval.CRITERIA)}.')


def parse_detector_noise(values) -> tuple:
  """(miss rate, jitter, swap rate): rates in [0, 1], a jitter >= 0."""
  try:
    miss, jitter, swap = (float(v) for v in values)
  except ValueError:
    raise errors.InputError('--detector_noise takes MISS_RATE,JITTER,SWAP_RATE (three numbers), '
                            f'got {",".join(values)}.') from None
  if not (0 <= miss <= 1 and 0 <= swap <= 1 and jitter >= 0):
    raise errors.InputError(f'--detector_noise={",".join(values)}: the rates must lie in [0, 1] '
                            'and the jitter be >= 0.')
  return miss, jitter, swap


def load_frames(detections_dirs, sequences, pairs, split, frame_stride, criteria, image_size,
                reading: dict) -> dict:
  """Frames by view from exactly one source (recording folders, sequence records, pair
  records); `reading` holds the detector readers' format, layout, person and min_score."""
  sources = [bool(detections_dirs), bool(sequences), bool(pairs)]
  if sum(sources) != 1:
    raise app.UsageError('Give exactly one of --detections, --sequences and --pairs.')
  if sequences:
    with_3d = bool(criteria) and bool(set(criteria) & set(retrieval.CRITERIA_3D))
    if criteria is None:
      with_3d = frame_sources.sequences_have_3d(sequences, split)
    return frame_sources.load_multiview_frames(sequences, split, frame_stride, with_3d=with_3d)
  if pairs:
    return frame_sources.load_pair_frames(pairs, frame_stride)
  return frame_sources.load_recordings(detections_dirs, frame_stride, image_size=image_size,
                                   **reading)


def main(argv):
  del argv
  # Imported here, not at the top: --help must not load TensorFlow.
  from poem_cvmim.evaluation import embedders  # pylint: disable=g-import-not-at-top
  ks = parse_ks(FLAGS.ks)
  reading = dict(format=FLAGS.format, layout=FLAGS.layout, person=FLAGS.person,
                 min_score=FLAGS.min_score)
  frames = frame_sources.select_views(
      load_frames(FLAGS.detections, FLAGS.sequences, FLAGS.pairs, FLAGS.split, FLAGS.frame_stride,
                  FLAGS.criteria, pose_inputs.parse_image_size(FLAGS.image_size), reading),
      FLAGS.cameras)
  if FLAGS.detector_noise:
    miss, jitter, swap = parse_detector_noise(FLAGS.detector_noise)
    frames = detections.add_detector_noise(frames, np.random.default_rng(FLAGS.noise_seed),
                                           miss, jitter, swap)
  criteria = FLAGS.criteria or [retrieval.FRAME] + (
      [retrieval.POSE] if all(d.has_3d for d in frames.values()) else [])
  loaded = {}
  for source in FLAGS.embedders:
    print(f'embedding {sum(len(d) for d in frames.values())} poses with {source}')
    loaded[source] = embedders.load_embedder(source)
  summary = retrieval.evaluate_embedders(loaded, frames, ks, FLAGS.tolerance, FLAGS.metric,
                                         criteria, FLAGS.mpjpe_threshold,
                                         FLAGS.mpjpe_mm_threshold)
  if FLAGS.detector_noise:
    summary['detector_noise'] = dict(zip(('miss_rate', 'jitter', 'swap_rate'),
                                         (float(v) for v in FLAGS.detector_noise)))
  if next(iter(frames.values())).filled is not None:
    summary['filled_joint_fraction'] = {
        camera: float(data.filled.mean()) for camera, data in frames.items()}
  table = retrieval.markdown(summary, ks)
  print(table)
  if FLAGS.output_dir:
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, 'retrieval.json'), 'w') as f:
      json.dump(summary, f, indent=2, default=float)
    with open(os.path.join(FLAGS.output_dir, 'retrieval.md'), 'w') as f:
      f.write(table)
    print(f'Wrote {os.path.join(FLAGS.output_dir, "retrieval")}.json/.md')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
