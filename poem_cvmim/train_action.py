r"""Trains and evaluates action classifiers on a feature table under a protocol.

  python -m poem_cvmim.train_action --feature_dir=out/features/cvmim --name=CV-MIM \
      --protocol=single_shot --seeds=0,1,2 --output_dir=runs/action

Protocols: single_shot (one run per training view, tested on all views), fully_supervised,
limited (--fractions=0.01,0.05,0.1,0.25,0.5,1). Each run writes result.json (top-1 and top-5
per test view and over all) and its checkpoint under
<output_dir>/<name>/<protocol>/<train view>/fraction<f>/seed<k>/ with identity.json (its
settings and the feature table's manifest hash). A finished run with the same identity is
reused, a killed one resumes from its checkpoint, and one made with other settings or other
features is refused (--overwrite replaces it). The table of every result under --output_dir is written as
<output_dir>/<protocol>_table.{md,csv,tex} and printed.
"""

import dataclasses
import os

from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.core import errors
from poem_cvmim.action import classifier_configs
from poem_cvmim.action import protocols
from poem_cvmim.evaluation import tables

FLAGS = flags.FLAGS
# Flags that override the preset's field of the same name when given.
_PRESET_OVERRIDES = ('classifier', 'batch_size', 'num_steps', 'learning_rate',
                     'standardize_features')


def define_flags():
  flags.DEFINE_string('feature_dir', None, 'Feature table (poem_cvmim.extract_features).')
  flags.DEFINE_string('name', None, 'Row name in the tables (default: the directory name).')
  flags.DEFINE_enum('protocol', protocols.SINGLE_SHOT, protocols.PROTOCOLS,
                    ', '.join(protocols.PROTOCOLS))
  flags.DEFINE_list('train_views', None, 'Single-shot training views (default: all).')
  flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds (Penn Action: 5 in the paper).')
  cli.register_check('seeds', cli.parse_seeds)
  flags.DEFINE_list('fractions', ['0.01', '0.05', '0.1', '0.25', '0.5', '1'],
                    'Fractions of training clips per class (limited protocol).')
  flags.DEFINE_string('preset', 'synthetic',
                      f'Batch size and steps: {sorted(classifier_configs.PRESETS)}.')
  flags.DEFINE_string('classifier', None, 'CONVNET, RESNET, RESTCN, CONVNET_TDMI (with TDMI\'s '
                      'motion stream), CONVNET_STREAM (its control), or on raw-keypoint '
                      'features STGCN or HCN (default: the preset\'s, CONVNET).')
  flags.DEFINE_enum('recipe', 'own', ['own', 'shared'], 'own: the classifier\'s training '
                    'recipe (STGCN: SGD Nesterov 0.1 with step decay; HCN: Adam 1e-3; both '
                    'weight decay 1e-4, batch 64); shared: Adam 5e-3 with EMA (the others\').')
  flags.DEFINE_integer('batch_size', None, 'Batch size (default: the preset).')
  flags.DEFINE_integer('num_steps', None, 'Training steps (default: the preset).')
  flags.DEFINE_float('learning_rate', None, 'Adam learning rate, constant (default: the '
                     f'preset, {classifier_configs.ClassifierConfig.learning_rate}).')
  flags.DEFINE_boolean('standardize_features', None, 'Standardise each feature dimension '
                       'with the training clips\' statistics (default: the preset, off).')
  flags.DEFINE_string('output_dir', None, 'Root of result JSON files and checkpoints.')
  flags.DEFINE_boolean('overwrite', False, 'Replace runs made with other settings or other '
                       'features (otherwise they are refused; identical finished runs are reused).')


def classifier_config(preset: str, recipe: str = 'own',
                      overrides=None) -> classifier_configs.ClassifierConfig:
  """The preset's steps and batch, the classifier's recipe (`recipe='own'`), then `overrides`
  ({field: value} of the flags given)."""
  if preset not in classifier_configs.PRESETS:
    raise errors.InputError(f'Unknown preset {preset!r}; valid: '
                            f'{sorted(classifier_configs.PRESETS)}.')
  overrides = dict(overrides or {})
  config = classifier_configs.PRESETS[preset]
  config = dataclasses.replace(config, classifier=overrides.pop('classifier', config.classifier))
  if recipe == 'own':
    config = classifier_configs.with_recipe(config)
  return dataclasses.replace(config, **overrides)


def run_name(name, feature_dir: str) -> str:
  """`name`, or the feature directory's name: one path component (it names a directory under
  the output directory, and must stay there)."""
  name = name or os.path.basename(os.path.normpath(feature_dir))
  if not name or name in ('.', '..') or os.sep in name or (os.altsep and os.altsep in name):
    raise errors.InputError(f'--name={name!r}: a row name is one path component (no "/", not '
                            f'"." or ".."); it names a directory under --output_dir.')
  return name


def main(argv):
  del argv
  if not (FLAGS.feature_dir and FLAGS.output_dir):
    raise app.UsageError('--feature_dir and --output_dir are required.')
  if FLAGS['fractions'].present and FLAGS.protocol != protocols.LIMITED:
    raise app.UsageError(f'--fractions applies to --protocol={protocols.LIMITED} only; the '
                         f'{FLAGS.protocol} protocol trains on every training clip.')
  name = run_name(FLAGS.name, FLAGS.feature_dir)
  overrides = {k: getattr(FLAGS, k) for k in _PRESET_OVERRIDES if getattr(FLAGS, k) is not None}
  protocols.run_protocol(
      name, FLAGS.feature_dir, FLAGS.protocol,
      classifier_config(FLAGS.preset, FLAGS.recipe, overrides),
      [int(s) for s in FLAGS.seeds], FLAGS.output_dir, train_views=FLAGS.train_views,
      fractions=FLAGS.fractions, verbose=True, overwrite=FLAGS.overwrite)
  results = tables.load_results(FLAGS.output_dir)
  table = (tables.single_shot_table(results) if FLAGS.protocol == protocols.SINGLE_SHOT
           else tables.fraction_table(results))
  markdown = tables.write_table(table, os.path.join(FLAGS.output_dir, f'{FLAGS.protocol}_table'))
  print(markdown)


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
