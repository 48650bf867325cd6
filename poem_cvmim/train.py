r"""Trains a pose representation on pair records (CV-MIM and the baselines).

  python -m poem_cvmim.train --input_table='out/synthetic/pairs/train-*' \
      --log_dir_path=runs/cvmim --num_iterations=2000

Flags keep the original's names (`--log_dir_path`, `--input_table`, `--algorithm_type`,
`--fusion_op_type`, ...); their defaults are the config dataclasses' defaults
(`poem_cvmim.representation.configs.FLAG_FIELDS`), except that `--algorithm_type=PR_VIPE`
starts from Pr-VIPE's own defaults (`configs.pr_vipe`). `--smoke` starts from the smoke preset, `--general`
from the "general" encoder's (`configs.general`: the main job's schedule, 20,000 steps), and
flags given on the command line still win. A run restarted on the same directory resumes from
its latest checkpoint; restarting it with flags that change the model, the algorithm or the data
is refused. Several local devices train with MirroredStrategy; several machines with
MultiWorkerMirroredStrategy when TF_CONFIG names the workers.
"""

import json
import os

from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.representation import configs

FLAGS = flags.FLAGS
_DEFINE = {bool: flags.DEFINE_boolean, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string}
_INTEGER_FIELDS_WITHOUT_DEFAULT = ('seed',)


def define_flags():
  for name, (path, help_text) in configs.FLAG_FIELDS.items():
    default = configs.field_default(path)
    kind = int if path in _INTEGER_FIELDS_WITHOUT_DEFAULT else type(default)
    _DEFINE[kind](name, default if default != '' else None, help_text)
  flags.DEFINE_boolean('smoke', False, 'Start from the smoke preset (batch 16, 4 steps).')
  flags.DEFINE_boolean('general', False, 'Start from the "general" encoder preset (batch 128, '
                       '20,000 steps, seed 0, deterministic) for pairs with the broad prior.')
  flags.DEFINE_boolean('verify_data', False, 'Check the SHA-256 of every input shard against '
                       'its manifest before training (one full read of the data).')


def config_from_flags(flag_values) -> configs.TrainConfig:
  """The smoke preset or the defaults, with the defaults of the algorithm `--algorithm_type`
  names (`configs.algorithm_defaults`), then every flag given on the command line applied."""
  if flag_values['smoke'].value and flag_values['general'].value:
    raise app.UsageError('--smoke and --general are two presets: give one.')
  base = (configs.smoke_config() if flag_values['smoke'].value else
          configs.general() if flag_values['general'].value else configs.TrainConfig())
  algorithm = (configs.algorithm_defaults(flag_values['algorithm_type'].value)
               if flag_values['algorithm_type'].present else base.algorithm)
  given = {path: flag_values[name].value for name, (path, _) in configs.FLAG_FIELDS.items()
           if flag_values[name].present}
  clip_batches = (given.get('algorithm.mining.temporal_negatives')
                  or given.get('algorithm.algorithm') == configs.ALGORITHM_MCSS)
  if clip_batches and 'instants_per_clip' not in given and not base.instants_per_clip:
    given['instants_per_clip'] = configs.DEFAULT_INSTANTS_PER_CLIP
  fraction = given.get('algorithm.mcss.fraction_with_3d', algorithm.mcss.fraction_with_3d)
  partial_3d = algorithm.algorithm == configs.ALGORITHM_PR_VIPE and fraction < 1.0
  if (algorithm.algorithm == configs.ALGORITHM_MCSS or partial_3d) and 'input_type' not in given:
    # Detected 2D only: projections of the 3D would hand every clip's 3D to the embedding.
    given['input_type'] = configs.INPUT_2D
  return configs.with_fields(base, given, algorithm)


def main(argv):
  del argv
  # Imported here, not at the top: --help must not load TensorFlow.
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from poem_cvmim.core import distribute  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  if not FLAGS.log_dir_path or not FLAGS.input_table:
    raise app.UsageError('--log_dir_path and --input_table are required.')
  # MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs.
  strategy = distribute.create_strategy(FLAGS.strategy, FLAGS.peer_timeout_s)
  config = config_from_flags(FLAGS)
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  if config.seed is not None:
    keras.utils.set_random_seed(config.seed)
  trainer = trainer_lib.Trainer(config, strategy)

  def write_flags(directory):  # after the checks: a refused restart writes nothing
    with open(os.path.join(directory, 'flags.json'), 'w') as f:
      json.dump({name: FLAGS[name].value for name in configs.FLAG_FIELDS}, f, indent=2)

  final = trainer.train(on_start=write_flags, verify_hashes=FLAGS.verify_data)
  print(json.dumps({'step': trainer.step, **final}, indent=2))


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
