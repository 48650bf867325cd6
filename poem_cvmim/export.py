r"""Exports a trained encoder as a SavedModel that plain TensorFlow can load.

  python -m poem_cvmim.export --log_dir_path=runs/cvmim --export_dir=runs/cvmim/saved_model

The signatures are described in `poem_cvmim.representation.export`.
"""


from absl import app
from absl import flags

from poem_cvmim.core import cli

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('log_dir_path', None, 'Training directory (config.json and checkpoints).')
  flags.DEFINE_string('checkpoint', None, 'A checkpoint path (default: the latest).')
  flags.DEFINE_string('export_dir', None, 'Where to write the SavedModel.')


def main(argv):
  del argv
  # Imported here, not at the top: --help must not load TensorFlow.
  from poem_cvmim.representation import export  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import restore  # pylint: disable=g-import-not-at-top
  if not FLAGS.log_dir_path or not FLAGS.export_dir:
    raise app.UsageError('--log_dir_path and --export_dir are required.')
  algorithm, config, step = restore.load_algorithm(FLAGS.log_dir_path, FLAGS.checkpoint)
  export.export_encoder(algorithm, config.profile_2d, FLAGS.export_dir)
  print(f'Exported the encoder of step {step} to {FLAGS.export_dir}')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
