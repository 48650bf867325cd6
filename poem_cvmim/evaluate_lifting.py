r"""3D from one camera's 2D: MPJPE and Procrustes-aligned MPJPE of a trained MCSS run's 3D head,
per camera and their mean, on frames whose 3D is known.

  # Sequence records of held-out subjects with several views and 3D (the synthetic set's
  # heldout_motion and broad_motion parts):
  python -m poem_cvmim.evaluate_lifting --runs=runs/mcss,runs/head_alone \
      --sequences=out/synthetic/heldout_motion --output_dir=out/lifting

  # Converted pair records (e.g. Human3.6M S9/S11): each camera's frames, once each.
  python -m poem_cvmim.evaluate_lifting --runs=runs/mcss --pairs='h36m/test-*' --frame_stride=10

Errors are in normalised 3D units (hip-spine-thorax length 1). Writes lifting.json and
lifting.md to --output_dir.
"""

import json
import os

from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.core import errors
from poem_cvmim.evaluation import lifting
from poem_cvmim.evaluation import frame_sources

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_list('runs', None, 'Training directories of MCSS runs (with a 3D head).')
  flags.DEFINE_string('sequences', None, 'A sequence record directory with several views and '
                      '3D.')
  flags.DEFINE_string('split', 'test', 'The split of --sequences.')
  flags.DEFINE_string('pairs', None, 'File pattern of pair records (two cameras each).')
  flags.DEFINE_integer('frame_stride', 1, 'Use every n-th frame (record for --pairs).',
                       lower_bound=1)
  flags.DEFINE_list('cameras', None, 'Only these cameras (views) (default: all).')
  flags.DEFINE_string('output_dir', None, 'Where lifting.json and lifting.md go.')


def load_lifter(run_dir: str):
  """The run's `lift` (normalised 2D -> normalised 3D, body frame); a one-line error for a run
  without a 3D head or with another 3D profile."""
  from poem_cvmim.core import lazy_tensorflow  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import restore  # pylint: disable=g-import-not-at-top
  algorithm, config, step = restore.load_algorithm(run_dir)
  if not hasattr(algorithm, 'lift'):
    raise errors.InputError(f'{run_dir}: a {config.algorithm.algorithm} run has no 3D head '
                            '(train with --algorithm_type=MCSS).')
  if config.profile_3d != lifting.PROFILE_3D:
    raise errors.InputError(f'{run_dir}: its 3D head predicts {config.profile_3d}; the frames\' '
                            f'3D is {lifting.PROFILE_3D}.')
  tf = lazy_tensorflow.deferred
  return tf.function(algorithm.lift, reduce_retracing=True), step


def main(argv):
  del argv
  if not FLAGS.runs:
    raise app.UsageError('--runs is required.')
  if bool(FLAGS.sequences) == bool(FLAGS.pairs):
    raise app.UsageError('Give exactly one of --sequences and --pairs.')
  if FLAGS.sequences:
    frames = frame_sources.load_multiview_frames(FLAGS.sequences, FLAGS.split, FLAGS.frame_stride,
                                             with_3d=True)
  else:
    frames = frame_sources.load_pair_frames(FLAGS.pairs, FLAGS.frame_stride)
  frames = frame_sources.select_views(frames, FLAGS.cameras, minimum=1)
  lifters = {run: load_lifter(run) for run in FLAGS.runs}  # every run checked first
  results = {}
  for run, (lift, step) in lifters.items():
    print(f'lifting {sum(len(d) for d in frames.values())} poses with {run}@{step}')
    results[run] = lifting.evaluate(lift, frames)
  table = lifting.markdown(results)
  print(table)
  if FLAGS.output_dir:
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, 'lifting.json'), 'w') as f:
      json.dump(results, f, indent=2)
    with open(os.path.join(FLAGS.output_dir, 'lifting.md'), 'w') as f:
      f.write(table)
    print(f'Wrote {os.path.join(FLAGS.output_dir, "lifting")}.json/.md')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
