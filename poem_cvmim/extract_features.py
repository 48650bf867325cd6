r"""Computes per-frame features of sequence records and caches them as a feature table.

  python -m poem_cvmim.extract_features --sequence_dir=out/synthetic/penn_like \
      --embedder=runs/cvmim --output_dir=out/features/cvmim --downsample_rate=2

--embedder is `raw` (normalised 2D keypoints, 26 values a frame), a training directory
(config.json + checkpoints: z_p of the latest checkpoint) or an exported SavedModel.
"""


from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.core import keypoints

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('sequence_dir', None, 'Directory of sequence records with manifest.json.')
  flags.DEFINE_string('embedder', None, "'raw', a training directory or a SavedModel.")
  flags.DEFINE_string('output_dir', None, 'Where to write the feature table.')
  flags.DEFINE_integer('downsample_rate', 1, 'Keep every n-th frame (Penn Action: 2; NTU: 1).',
                       lower_bound=1)
  flags.DEFINE_integer('num_frames', None, 'T of the sequence records (default: the manifest).',
                       lower_bound=1)
  flags.DEFINE_enum('keypoint_profile_name_2d', keypoints.LEGACY_2DCOCO13,
                    keypoints.PROFILE_NAMES_2D, 'Profile of the 2D input.')
  flags.DEFINE_boolean('overwrite', False, 'Replace an existing feature table.')


def main(argv):
  del argv
  # Imported here, not at the top: --help must not load TensorFlow.
  from poem_cvmim.evaluation import embedders  # pylint: disable=g-import-not-at-top
  from poem_cvmim.evaluation import features  # pylint: disable=g-import-not-at-top
  if not (FLAGS.sequence_dir and FLAGS.embedder and FLAGS.output_dir):
    raise app.UsageError('--sequence_dir, --embedder and --output_dir are required.')
  embedder = embedders.load_embedder(FLAGS.embedder)
  manifest = features.write_feature_table(
      FLAGS.sequence_dir, FLAGS.output_dir, embedder, FLAGS.downsample_rate,
      FLAGS.num_frames, FLAGS.keypoint_profile_name_2d, overwrite=FLAGS.overwrite)
  print(f'Wrote {manifest["num_records"]} clips of {manifest["sequence_length"]} frames x '
        f'{manifest["feature_dim"]} features to {FLAGS.output_dir}')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
