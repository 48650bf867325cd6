r"""Converts NTU RGB+D `.skeleton` files to sequence and pair records (SPEC §6.3).

  python -m data_prep.ntu_rgbd --input_dir=nturgb+d_skeletons --output_dir=out/ntu \
      [--mode=sequences|pairs|both] [--benchmark=xsub|xview] [--num_workers=2]

writes out/ntu/sequences/ and/or out/ntu/pairs/ with manifests (data_prep/README.md).
"""

import sys

from absl import app
from absl import flags

from data_prep import conversion
from data_prep import ntu_rgbd_dataset as ntu
from poem_cvmim import shards

FLAGS = flags.FLAGS
flags.DEFINE_string('input_dir', None, 'Directory holding the .skeleton files.')
flags.DEFINE_string('output_dir', None, 'Directory to write sequences/ and pairs/ under.')
flags.DEFINE_enum('mode', ntu.SEQUENCES, sorted(ntu.MODES), 'Which records to write.')
flags.DEFINE_enum('benchmark', ntu.XSUB, [ntu.XSUB, ntu.XVIEW], 'Train/test split.')
flags.DEFINE_string('missing_list', ntu.MISSING_LIST,
                    'Samples with missing skeletons to skip (default: the shipped list).')
flags.DEFINE_integer('pair_frame_stride', 1, 'Pair records from every n-th frame.')
flags.DEFINE_integer('num_workers', conversion.default_workers(), 'Worker processes.')
flags.DEFINE_integer('records_per_shard', shards.DEFAULT_RECORDS_PER_SHARD, 'Shard size.')
flags.DEFINE_boolean('strict', False, 'Stop at the first malformed file instead of skipping.')
flags.DEFINE_boolean('overwrite', False, 'Replace the shards of an earlier run.')


def main(argv):
  del argv
  if not FLAGS.input_dir or not FLAGS.output_dir:
    raise app.UsageError('--input_dir and --output_dir are required.')
  try:
    config = ntu.NtuConfig(
        input_dir=FLAGS.input_dir, output_dir=FLAGS.output_dir, mode=FLAGS.mode,
        benchmark=FLAGS.benchmark, missing_list=FLAGS.missing_list,
        pair_frame_stride=FLAGS.pair_frame_stride, num_workers=FLAGS.num_workers,
        strict=FLAGS.strict, overwrite=FLAGS.overwrite,
        records_per_shard=FLAGS.records_per_shard)
    manifests = ntu.convert(config)
  except (ValueError, FileNotFoundError, FileExistsError) as error:
    sys.exit(f'error: {error}')
  for manifest in manifests.values():
    print(conversion.summarize(manifest))


if __name__ == '__main__':
  app.run(main)
