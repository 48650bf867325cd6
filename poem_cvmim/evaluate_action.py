r"""Evaluates a trained action classifier run on (a split of) a feature table.

  python -m poem_cvmim.evaluate_action --run_dir=runs/action/CV-MIM/single_shot/front/fraction1/seed0 \
      --feature_dir=out/features/cvmim [--split=test] [--views=left,right]

Restores the run's checkpoint (model and optimizer), evaluates its moving-average weights and
writes eval_<split>.json beside it: top-1 and top-5 over all clips and per view.
"""

import json
import os

from absl import app
from absl import flags

from poem_cvmim.core import cli


FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('run_dir', None, 'A run directory written by poem_cvmim.train_action.')
  flags.DEFINE_string('feature_dir', None, 'The feature table to evaluate on.')
  flags.DEFINE_string('split', 'test', 'Split to evaluate.')
  flags.DEFINE_list('views', None, 'Views to evaluate (default: all).')
  flags.DEFINE_boolean('other_features', False, 'Evaluate on a feature table other than the one '
                       'the run was trained on (refused otherwise: another encoder\'s features '
                       'of the same width would be scored without a word).')


def main(argv):
  del argv
  # Imported here, not at the top: --help must not load TensorFlow.
  from poem_cvmim.action import protocols  # pylint: disable=g-import-not-at-top
  if not (FLAGS.run_dir and FLAGS.feature_dir):
    raise app.UsageError('--run_dir and --feature_dir are required.')
  scores = protocols.evaluate_run(FLAGS.run_dir, FLAGS.feature_dir, FLAGS.split, FLAGS.views,
                                  other_features=FLAGS.other_features)
  with open(os.path.join(FLAGS.run_dir, f'eval_{FLAGS.split}.json'), 'w') as f:
    json.dump(scores, f, indent=2)
  print(json.dumps(scores, indent=2))


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
