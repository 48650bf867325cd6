r"""Generates the synthetic multi-view action set (data_prep/README.md), the embedded default data.

  python -m data_prep.synthetic --output_dir=/tmp/synthetic [--seed=0] [--smoke] [--refiner_tracks]

writes pairs/, penn_like/, ntu_like/ and the retrieval parts heldout_motion/ and broad_motion/
record directories with manifests (see data_prep/synthetic_dataset.py), and with
--refiner_tracks the refiner's clean 2D tracks refiner/*.npz (data_prep/synthetic_tracks.py).
Same flags, same bytes.
"""


from absl import app
from absl import flags

from data_prep import conversion
from data_prep import synthetic_dataset
from data_prep import synthetic_motion as motion
from data_prep import synthetic_tracks
from poem_cvmim.core import cli


FLAGS = flags.FLAGS
_DEFAULTS = synthetic_dataset.SyntheticConfig()


def define_flags():
  flags.DEFINE_string('output_dir', None, 'Directory to write pairs/, penn_like/, ntu_like/.')
  flags.DEFINE_integer('seed', _DEFAULTS.seed, 'Random seed; the output depends only on flags.')
  flags.DEFINE_integer('num_subjects', _DEFAULTS.num_subjects, 'Subjects (bone lengths differ).')
  flags.DEFINE_integer('num_test_subjects', _DEFAULTS.num_test_subjects,
                       'The last subjects form the test split.')
  flags.DEFINE_integer('num_classes', _DEFAULTS.num_classes,
                       f'Action classes, at most {len(motion.ACTIONS)}.')
  flags.DEFINE_integer('clips_per_class', _DEFAULTS.clips_per_class,
                       'Performances per subject, class and view set.')
  flags.DEFINE_list('view_sets', list(_DEFAULTS.view_sets), 'Camera sets to render.')
  flags.DEFINE_integer('pair_frame_stride', _DEFAULTS.pair_frame_stride,
                       'Take pair records from every n-th frame.')
  flags.DEFINE_integer('pairs_per_frame', _DEFAULTS.pairs_per_frame,
                       'Ordered camera pairs written per frame.')
  flags.DEFINE_integer('broad_clips_per_subject', _DEFAULTS.broad_clips_per_subject,
                       'Broad pose-prior clips per training subject in the pair records '
                       '(0: the class programs only).')
  flags.DEFINE_integer('retrieval_clips_per_family', _DEFAULTS.retrieval_clips_per_family,
                       'Clips per held-out program and test subject in heldout_motion/ and '
                       'broad_motion/ (0: neither is written).')
  flags.DEFINE_integer('records_per_shard', _DEFAULTS.records_per_shard, 'Shard size.')
  flags.DEFINE_boolean('overwrite', False, 'Replace the shards of an earlier run.')
  flags.DEFINE_boolean('refiner_tracks', False, 'Also write refiner/{train,heldout_subjects,'
                       'heldout_motion}.npz: the exact 2D projections the keypoint refiner '
                       '(poem_cvmim.train_refiner) trains and is evaluated on.')
  flags.DEFINE_boolean('refiner_tracks_only', False, 'Write only refiner/ (no records).')
  flags.DEFINE_boolean('smoke', False, 'Generate the tiny smoke preset (tests, demos).')


def main(argv):
  del argv
  if not FLAGS.output_dir:
    raise app.UsageError('--output_dir is required.')
  values = dict(seed=FLAGS.seed, num_subjects=FLAGS.num_subjects,
                num_test_subjects=FLAGS.num_test_subjects, num_classes=FLAGS.num_classes,
                clips_per_class=FLAGS.clips_per_class, view_sets=tuple(FLAGS.view_sets),
                pair_frame_stride=FLAGS.pair_frame_stride,
                pairs_per_frame=FLAGS.pairs_per_frame,
                broad_clips_per_subject=FLAGS.broad_clips_per_subject,
                retrieval_clips_per_family=FLAGS.retrieval_clips_per_family,
                records_per_shard=FLAGS.records_per_shard)
  if FLAGS.smoke:
    config = synthetic_dataset.smoke_config(seed=FLAGS.seed)
  else:
    config = synthetic_dataset.SyntheticConfig(**values)
  if not FLAGS.refiner_tracks_only:
    manifests = synthetic_dataset.generate(config, FLAGS.output_dir, overwrite=FLAGS.overwrite)
    for manifest in manifests.values():
      print(conversion.summarize(manifest))
  if FLAGS.refiner_tracks or FLAGS.refiner_tracks_only:
    synthetic_tracks.write(config, FLAGS.output_dir)


if __name__ == '__main__':
  cli.run(main, define_flags)
