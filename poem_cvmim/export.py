r"""Exports a trained encoder as a SavedModel that plain TensorFlow can load.

  python -m poem_cvmim.export --log_dir_path=runs/cvmim --export_dir=runs/cvmim/saved_model

The signatures are described in `poem_cvmim.representation.export`.
"""


from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.representation import export
from poem_cvmim.representation import restore

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('log_dir_path', None, 'Training directory (config.json and checkpoints).')
  flags.DEFINE_string('checkpoint', None, 'A checkpoint path (default: the latest).')
  flags.DEFINE_string('export_dir', None, 'Where to write the SavedModel.')


def main(argv):
  del argv
  if not FLAGS.log_dir_path or not FLAGS.export_dir:
    raise app.UsageError('--log_dir_path and --export_dir are required.')
  try:
    algorithm, config, step = restore.load_algorithm(FLAGS.log_dir_path, FLAGS.checkpoint)
  except (FileNotFoundError, ValueError) as error:
    cli.fail(error)
  export.export_encoder(algorithm, config.profile_2d, FLAGS.export_dir)
  print(f'Exported the encoder of step {step} to {FLAGS.export_dir}')


if __name__ == '__main__':
  cli.run(main, define_flags)
