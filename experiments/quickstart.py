r"""The main job: the whole pipeline on the synthetic set, ending in a per-view table.

  python -m experiments.quickstart [--output_dir=out/quickstart] [--smoke]

1. generates the synthetic multi-view set (data_prep/README.md);
2. trains CV-MIM on its pair records;
3. computes per-frame features of the penn-like clips: CV-MIM's z_p and raw 2D keypoints;
4. measures cross-view retrieval on the held-out subjects' clips (Hit@k of z_p against raw
   keypoints; how often z_v's nearest neighbour comes from the same camera): the penn-like
   clips (the encoder's motion programs) and the held-out motion families and broad-prior
   clips no encoder saw (also by NP-MPJPE of the retrieved 3D pose);
5. runs the single-shot cross-view protocol (train on one view, test on all) for both over
   several seeds with the Temporal ConvNet;
6. prints the table (Markdown) and writes it, with every run's JSON, under --output_dir.
Scale it up with --num_subjects, --clips_per_class, --cvmim_steps, --classifier_steps, --seeds.
"""

import dataclasses
import json
import os
import time

from absl import flags
from absl import logging

from data_prep import synthetic_dataset as synthetic
from poem_cvmim.core import cli
from poem_cvmim.core import errors
from poem_cvmim.core import run_dirs
from poem_cvmim.action import classifier_configs
from poem_cvmim.representation import configs
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import tables
from poem_cvmim.action import protocols
from poem_cvmim.evaluation import frame_sources
from poem_cvmim.evaluation import retrieval

CVMIM, RAW = 'CV-MIM', 'Raw keypoints'


_SCHEDULE = configs.synthetic_schedule()  # the encoder schedule of every synthetic-set run


@dataclasses.dataclass(frozen=True)
class QuickstartConfig:
  """Sizes of the main job (the default fits in 15 minutes on 2 CPU cores)."""
  data: synthetic.SyntheticConfig = synthetic.SyntheticConfig()
  view_set: str = 'penn_like'
  cvmim_batch_size: int = _SCHEDULE.batch_size
  # 2,800: the time the faster step freed, spent on a longer training (docs/results.md, "How
  # many encoder steps"); retrieval and the table still improve past 2,000.
  cvmim_steps: int = 2800
  cvmim_shuffle_buffer_size: int = _SCHEDULE.shuffle_buffer_size
  classifier: classifier_configs.ClassifierConfig = classifier_configs.PRESETS['synthetic']
  seeds: tuple = (0, 1, 2)
  downsample_rate: int = 2  # Penn's rate
  retrieval_frame_stride: int = 4  # every 4th frame of each test clip is a query
  # The encoder's seed (weights, input order, augmentation); the data have their own.
  seed: int = _SCHEDULE.seed
  # Temporal hard negatives (docs/mining.md): clip-grouped batches of `instants_per_clip`
  # instants, the clip's far frames weighted `hard_negative_weight` in the cross-view term.
  temporal_negatives: bool = False
  hard_negative_weight: float = 8.0
  instants_per_clip: int = configs.DEFAULT_INSTANTS_PER_CLIP
  # Weight of the view-alignment term (not in the paper; docs/losses.md, "View alignment"):
  # 1 won on the table and on retrieval of unseen motion over two encoder seeds
  # (docs/results.md, 2026-12-06). 0: the paper's CV-MIM.
  alignment_loss_weight: float = 1.0
  deterministic: bool = _SCHEDULE.deterministic  # the same table on every re-run here

  def __post_init__(self):
    if self.view_set not in self.data.view_sets:
      raise errors.InputError(f'view_set {self.view_set!r} is not generated; generated: '
                              f'{list(self.data.view_sets)}.')
    if not self.seeds:
      raise errors.InputError('At least one seed is needed.')


def smoke_config() -> QuickstartConfig:
  """About a minute: tiny data, a few CV-MIM steps, two seeds."""
  return QuickstartConfig(data=synthetic.smoke_config(view_sets=('penn_like',)),
                          cvmim_batch_size=16, cvmim_steps=4,
                          classifier=classifier_configs.PRESETS['smoke'], seeds=(0, 1))


def run(config: QuickstartConfig, output_dir: str, log=print, overwrite: bool = False) -> dict:
  """Runs the pipeline; returns {'table': DataFrame, 'markdown': str, 'results': [...]}.

  `output_dir` records the configuration (identity.json): a re-run with the same one reuses
  every finished part (and resumes a killed training); another configuration is refused with
  the differing fields named, unless `overwrite`, which empties the directory first.
  """
  train_config = cvmim_config(config, output_dir)  # checked before the directory is claimed
  with run_dirs.DirectoryLock(output_dir):
    run_dirs.check_identity(output_dir, {'kind': 'quickstart',
                                         'config': dataclasses.asdict(config)},
                            overwrite=overwrite, what='main job')
    return _run(config, train_config, output_dir, log)


def cvmim_config(config: QuickstartConfig, output_dir: str) -> configs.TrainConfig:
  """The CV-MIM training of the main job (raises InputError on a bad size or step count)."""
  data_dir = os.path.join(output_dir, 'data')
  algorithm = configs.algorithm_config(temporal_negatives=config.temporal_negatives,
                                       hard_negative_weight=config.hard_negative_weight,
                                       alignment_loss_weight=config.alignment_loss_weight)
  return configs.TrainConfig(
      algorithm=algorithm, instants_per_clip=(config.instants_per_clip
                                              if config.temporal_negatives else 0),
      input_table=os.path.join(data_dir, synthetic.PAIRS_DIR, 'train-*'),
      output_dir=os.path.join(output_dir, 'cvmim'), batch_size=config.cvmim_batch_size,
      num_steps=config.cvmim_steps, checkpoint_interval=config.cvmim_steps,
      summary_interval=max(1, config.cvmim_steps // 10),
      shuffle_buffer_size=config.cvmim_shuffle_buffer_size, seed=config.seed,
      deterministic=config.deterministic)


def _run(config: QuickstartConfig, train_config: configs.TrainConfig, output_dir: str,
         log=print) -> dict:
  # Imported here, not at the top: --help must not load TensorFlow.
  from poem_cvmim.action import classify  # pylint: disable=g-import-not-at-top
  from poem_cvmim.evaluation import features  # pylint: disable=g-import-not-at-top
  from poem_cvmim.representation import trainer  # pylint: disable=g-import-not-at-top
  start = time.time()
  def stage(message):
    log(f'[quickstart {time.time() - start:6.0f} s] {message}')

  data_dir = os.path.join(output_dir, 'data')
  stage('1/5 generating the synthetic multi-view set')
  synthetic.generate(config.data, data_dir, overwrite=True, log=log)
  stage(f'2/5 training CV-MIM ({config.cvmim_steps} steps, batch {config.cvmim_batch_size})')
  cvmim_dir = train_config.output_dir
  trainer.Trainer(train_config, log=log).train()
  stage('3/5 computing per-frame features (CV-MIM z_p and raw keypoints)')
  sequences = os.path.join(data_dir, config.view_set)
  feature_dirs = {}
  for name, source in ((CVMIM, cvmim_dir), (RAW, embedders.RAW)):
    feature_dirs[name] = os.path.join(output_dir, 'features', 'cvmim' if name == CVMIM
                                      else 'raw')
    features.write_feature_table(sequences, feature_dirs[name], embedders.load_embedder(source),
                                 downsample_rate=config.downsample_rate, overwrite=True,
                                 log=lambda _: None)
  stage('4/5 cross-view retrieval on the test subjects\' clips')
  retrieval_summary = cross_view_retrieval(cvmim_dir, data_dir, config.view_set,
                                           config.retrieval_frame_stride)
  with open(os.path.join(output_dir, 'retrieval.json'), 'w') as f:
    json.dump(retrieval_summary, f, indent=2)
  with open(os.path.join(output_dir, 'retrieval.md'), 'w') as f:
    f.write(''.join(f'## {name}\n\n{retrieval.markdown(summary)}\n'
                    for name, summary in retrieval_summary['sets'].items()))
  stage(f'5/5 single-shot cross-view protocol, seeds {list(config.seeds)}')
  results_dir = os.path.join(output_dir, 'runs')
  results = []
  pool = classify.ClassifierPool()  # both rows' runs share the traced models
  for name, directory in feature_dirs.items():
    results += protocols.run_protocol(name, directory, protocols.SINGLE_SHOT,
                                      config.classifier, config.seeds, results_dir, log=log,
                                      pool=pool)
  table = tables.single_shot_table(results)
  markdown = tables.write_table(table, os.path.join(output_dir, 'single_shot_table'))
  stage('done')
  return {'table': table, 'markdown': markdown, 'results': results,
          'retrieval': retrieval_summary, 'seconds': time.time() - start}


def cross_view_retrieval(run_dir: str, data_dir: str, view_set: str,
                         frame_stride: int) -> dict:
  """Hit@1/5/10 over every ordered pair of cameras of the test subjects' clips, for z_p of
  the trained encoder and for raw keypoints, and the same-camera rate of z_v's and z_p's
  neighbours: on `view_set` (the motion programs the encoder trained on; exact-frame hits)
  and on the retrieval parts (motion it never saw; exact-frame and NP-MPJPE hits)."""
  embedder = embedders.load_embedder(run_dir)
  chosen = {'z_p': embedder, 'raw': embedders.load_embedder(embedders.RAW)}
  sets = {view_set: (view_set, (retrieval.FRAME,))}
  for part in synthetic.RETRIEVAL_PARTS:
    if os.path.exists(os.path.join(data_dir, part)):
      sets[part] = (part, (retrieval.FRAME, retrieval.POSE))
  summaries = {}
  for name, (part, criteria) in sets.items():
    frames = frame_sources.load_multiview_frames(os.path.join(data_dir, part), 'test',
                                             frame_stride, with_3d=retrieval.POSE in criteria)
    summaries[name] = retrieval.evaluate_embedders(chosen, frames, criteria=criteria)
  return {'step': int(embedder.name.rsplit('@', 1)[1]), 'sets': summaries}


def retrieval_lines(summary: dict) -> list:
  """One line per retrieval set: Hit@1/5/10 of z_p and raw keypoints; how often z_v's and z_p's
  nearest neighbour among other clips comes from the query's camera."""
  lines = []
  for name, result in summary['sets'].items():
    parts = []
    for criterion in result['criteria']:
      rates = {e: result['embedders'][e]['hit_rates'][criterion]['mean']
               for e in ('z_p', 'raw')}
      parts.append(f'{criterion} hits: z_p ' + ' / '.join(
          f'{100 * rates["z_p"][k]:.1f}' for k in (1, 5, 10)) + ', raw ' + ' / '.join(
              f'{100 * rates["raw"][k]:.1f}' for k in (1, 5, 10)))
    rates = result['embedders']['z_p']['same_view_rate']
    shown = {key: '– (not measured)' if rates.get(key) is None else f'{100 * rates[key]:.0f} %'
             for key in ('view', 'pose')}
    lines.append(f'  {name}: ' + '; '.join(parts) + f'; same camera: z_v {shown["view"]}, z_p '
                 f'{shown["pose"]} (chance {100 * result["chance"]:.0f} %)')
  return lines


def view_gains(results: list) -> dict:
  """Per training view: mean top-1 on all test views of CV-MIM minus raw keypoints (points)."""
  means = {}
  for r in results:
    means.setdefault((r['name'], r['train_view']), []).append(r['all']['top1'])
  views = sorted({view for _, view in means}, key=[r['train_view'] for r in results].index)
  return {view: 100 * (sum(means[(CVMIM, view)]) / len(means[(CVMIM, view)])
                       - sum(means[(RAW, view)]) / len(means[(RAW, view)])) for view in views}


FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('output_dir', 'out/quickstart', 'Where data, runs and tables go.')
  flags.DEFINE_boolean('smoke', False, 'The one-minute smoke preset.')
  flags.DEFINE_integer('num_subjects', None, 'Synthetic subjects (default 8).',
                       lower_bound=1)
  flags.DEFINE_integer('clips_per_class', None, 'Synthetic clips per class and subject (4).',
                       lower_bound=1)
  flags.DEFINE_integer('cvmim_steps', None, 'CV-MIM training steps (2800).',
                       lower_bound=1)
  flags.DEFINE_integer('classifier_steps', None, 'Classifier training steps (300).',
                       lower_bound=1)
  flags.DEFINE_list('seeds', None, 'Classifier seeds (0,1,2).')
  cli.register_check('seeds', cli.parse_seeds)
  flags.DEFINE_integer('encoder_seed', None, 'Seed of the CV-MIM training (0).')
  flags.DEFINE_boolean('temporal_negatives', None, 'CV-MIM with temporal hard negatives '
                       '(docs/mining.md).')
  flags.DEFINE_float('hard_negative_weight', None, 'Weight of a temporal negative.')
  flags.DEFINE_float('alignment_loss_weight', None, 'Weight of the squared distance between '
                     "the two views' z_p (1; not in the paper, 0: the paper's loss; "
                     'docs/losses.md).')
  flags.DEFINE_boolean('standardize_features', False,
                       'Standardise classifier inputs with the training clips\' statistics.')
  flags.DEFINE_boolean('overwrite', False, 'Replace what --output_dir holds when it was made '
                       'with other settings (otherwise refused; the same settings reuse it).')
  flags.DEFINE_boolean('deterministic', True, 'TensorFlow op determinism (slower; the same '
                       'table on every re-run on one machine).')


def config_from_flags() -> QuickstartConfig:
  config = smoke_config() if FLAGS.smoke else QuickstartConfig()
  data = config.data
  if FLAGS.num_subjects is not None:
    data = dataclasses.replace(data, num_subjects=FLAGS.num_subjects)
  if FLAGS.clips_per_class is not None:
    data = dataclasses.replace(data, clips_per_class=FLAGS.clips_per_class)
  overrides = {'data': data}
  if FLAGS.cvmim_steps is not None:
    overrides['cvmim_steps'] = FLAGS.cvmim_steps
  if FLAGS.classifier_steps is not None:
    overrides['classifier'] = dataclasses.replace(config.classifier,
                                                  num_steps=FLAGS.classifier_steps)
  if FLAGS.seeds:
    overrides['seeds'] = tuple(int(s) for s in FLAGS.seeds)
  if FLAGS.encoder_seed is not None:
    overrides['seed'] = FLAGS.encoder_seed
  if FLAGS.temporal_negatives is not None:
    overrides['temporal_negatives'] = FLAGS.temporal_negatives
  if FLAGS.hard_negative_weight is not None:
    overrides['hard_negative_weight'] = FLAGS.hard_negative_weight
  if FLAGS.alignment_loss_weight is not None:
    overrides['alignment_loss_weight'] = FLAGS.alignment_loss_weight
  if not FLAGS.deterministic:
    overrides['deterministic'] = False
  if FLAGS.standardize_features:
    overrides['classifier'] = dataclasses.replace(
        overrides.get('classifier', config.classifier), standardize_features=True)
  return dataclasses.replace(config, **overrides)


def main(argv):
  del argv
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel('ERROR')  # one classifier per run: retracing notices are expected
  logging.set_verbosity(logging.WARNING)  # no per-checkpoint INFO lines
  config = config_from_flags()
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  keras.utils.set_random_seed(config.seed)
  outcome = run(config, FLAGS.output_dir, overwrite=FLAGS.overwrite)
  gains = view_gains(outcome['results'])
  with open(os.path.join(FLAGS.output_dir, 'summary.json'), 'w') as f:
    json.dump({'seconds': outcome['seconds'], 'gain_points_per_view': gains,
               'retrieval': outcome['retrieval']}, f, indent=2)
  print('\nSingle-shot cross-view top-1 (%) on all test views of the synthetic penn-like set, '
        f'mean ± std over {len(config.seeds)} classifier seeds on one encoder (seed '
        f'{config.seed}, view alignment {config.alignment_loss_weight:g}); columns: the '
        'training view:\n')
  print(outcome['markdown'])
  print('\nCross-view retrieval on the test subjects\' clips, Hit@1 / @5 / @10 (%) '
        '(retrieval.md has every camera pair):')
  print('\n'.join(retrieval_lines(outcome['retrieval'])))
  print('\nCV-MIM gain over raw keypoints (points): '
        + ', '.join(f'{view} {gain:+.1f}' for view, gain in gains.items()))
  print(f'Wall time {outcome["seconds"] / 60:.1f} min. Tables: '
        f'{os.path.join(FLAGS.output_dir, "single_shot_table")}.md/.csv/.tex')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
