r"""Action recognition from noisy detections, with and without the TDMI refiner in front.

  python -m experiments.refiner_action --encoder=out/quickstart/cvmim \
      --sequences=out/quickstart/data/penn_like --refiner=out/refiner/runs/TDMI/seed0 \
      [--output_dir=out/refiner/action] [--seeds=0,1,2]

The sequence records' 2D (the synthetic detector's) are corrupted once more by the refiner's
detector model (temporal/noise.py; seeded per clip and camera, the same for every input), then
either interpolated where joints are missing (what the readers do) or refined; each becomes a
feature table of --encoder (and of raw keypoints), and the single-shot protocol (Temporal
ConvNet, the synthetic preset) runs on each. Prints the table of single-shot top-1 per
training view and its average, rows = embedder x input, beside the records as they are.
"""

import os
import zlib

from absl import app
from absl import flags
import numpy as np

from poem_cvmim.action import classifier_configs
from poem_cvmim.core import cli
from poem_cvmim.core import shards
from poem_cvmim.temporal import filters
from poem_cvmim.temporal import noise as noise_lib

FLAGS = flags.FLAGS
CLEAN, NOISY, REFINED = 'records as they are', 'noisy, interpolated', 'noisy, refined'


def define_flags():
  flags.DEFINE_string('encoder', None, 'A trained encoder run (or "raw").')
  flags.DEFINE_string('sequences', None, 'Sequence records (e.g. out/quickstart/data/penn_like).')
  flags.DEFINE_string('refiner', None, 'A refiner run (poem_cvmim.train_refiner).')
  flags.DEFINE_string('output_dir', 'out/refiner/action', 'Feature tables, runs and the table.')
  flags.DEFINE_list('seeds', ['0', '1', '2'], 'Classifier seeds.')
  cli.register_check('seeds', cli.parse_seeds)
  flags.DEFINE_integer('downsample_rate', 2, 'Every n-th frame becomes a feature (Penn: 2).')
  flags.DEFINE_integer('noise_seed', 0, 'Seed of the extra detector noise.')
  flags.DEFINE_string('preset', 'synthetic', 'Classifier preset.')


def detector(noise: noise_lib.DetectorNoise, seed: int, refine=None):
  """The `features.write_feature_table` hook: each clip's real frames corrupted (seeded by the
  clip and camera), then refined by `refine(points, scores)` or interpolated; replayed as the
  records replay them."""
  def apply(pixels, num_frames, source_ids, view):
    out = np.array(pixels, np.float64)
    for i, (count, source) in enumerate(zip(num_frames, source_ids)):
      count = int(count) or len(pixels[i])
      key = zlib.crc32(f'{source}/{view}'.encode())
      points, scores = noise_lib.corrupt(pixels[i, :count], noise,
                                         np.random.default_rng([seed, key]))
      cleaned = refine(points, scores) if refine else filters.filled(points, scores)
      out[i] = cleaned[np.arange(len(pixels[i])) % count]
    return out
  return apply


def run(encoder: str, sequences: str, refiner_dir: str, output_dir: str, seeds: list,
        downsample_rate: int = 2, noise_seed: int = 0, preset: str = 'synthetic',
        log=print, with_raw: bool = True, train_views=None) -> str:
  """Writes the feature tables, runs the protocol on each (raw keypoints too unless not
  `with_raw`); returns the Markdown table."""
  # pylint: disable=g-import-not-at-top
  from poem_cvmim.action import protocols
  from poem_cvmim.evaluation import embedders
  from poem_cvmim.evaluation import features
  from poem_cvmim.evaluation import tables
  from poem_cvmim.temporal import refiner as refiner_lib
  # pylint: enable=g-import-not-at-top
  trained = refiner_lib.load(refiner_dir)
  hooks = {CLEAN: None, NOISY: detector(trained.config.noise, noise_seed),
           REFINED: detector(trained.config.noise, noise_seed, trained.refine)}
  config = classifier_configs.PRESETS[preset]
  names = {}
  for source in (encoder, embedders.RAW) if with_raw else (encoder,):
    embedder = embedders.load_embedder(source)
    label = 'raw keypoints' if source == embedders.RAW else 'z_p'
    for kind, hook in hooks.items():
      slug = f'{"raw" if source == embedders.RAW else "zp"}_{kind.split(",")[-1].strip().split()[0]}'
      table_dir = os.path.join(output_dir, 'features', slug)
      if not os.path.exists(os.path.join(table_dir, shards.MANIFEST_NAME)):
        features.write_feature_table(sequences, table_dir, embedder, downsample_rate,
                                     log=lambda _: None, detections=hook)
      name = f'{label}: {kind}'
      names[name] = slug
      protocols.run_protocol(slug, table_dir, protocols.SINGLE_SHOT, config, seeds,
                             os.path.join(output_dir, 'runs'), train_views=train_views, log=log)
  results = tables.load_results(os.path.join(output_dir, 'runs'))
  for result in results:
    result['name'] = next(n for n, s in names.items() if s == result['name'])
  table = tables.single_shot_table(results)
  return tables.write_table(table, os.path.join(output_dir, 'single_shot_table'))


def main(argv):
  del argv
  if not (FLAGS.encoder and FLAGS.sequences and FLAGS.refiner):
    raise app.UsageError('--encoder, --sequences and --refiner are required.')
  print(run(FLAGS.encoder, FLAGS.sequences, FLAGS.refiner, FLAGS.output_dir,
            [int(s) for s in FLAGS.seeds], FLAGS.downsample_rate, FLAGS.noise_seed,
            FLAGS.preset))


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
