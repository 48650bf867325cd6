r"""Trains the TDMI keypoint refiner on clean 2D tracks with a simulated detector.

  python -m data_prep.synthetic --output_dir=out/synthetic --refiner_tracks_only
  python -m poem_cvmim.train_refiner --tracks=out/synthetic/refiner/train.npz \
      --output_dir=runs/refiner

The refiner (docs/tdmi.md) takes a window of 2r + 1 frames of detections around a key frame
and returns the key frame's 13 joints. Each step corrupts clean windows with the detector
model (--jitter, --miss_rate, --miss_burst, --swap_rate, --outlier_rate, --outlier_scale, in
normalised units: the torso's largest side is 0.5) and fits the clean key frame. The run
directory holds config.json, checkpoints (a killed run resumes where it stopped; the same
command on a finished run only reports it), TensorBoard scalars under train/ and
identity.json (another configuration in the same directory is refused; --overwrite replaces
it). Use the run with `python -m poem_cvmim.refine --refiner=runs/refiner ...`.
"""

from absl import app
from absl import flags

from poem_cvmim.core import cli
from poem_cvmim.temporal import configs
from poem_cvmim.temporal import noise as noise_lib

FLAGS = flags.FLAGS
_MODEL = configs.TdmiConfig()
_NOISE = noise_lib.DetectorNoise()
_RUN = configs.RefinerConfig()


def define_flags():
  flags.DEFINE_string('tracks', None, 'Clean training tracks (.npz, core/tracks.py), e.g. '
                      'out/synthetic/refiner/train.npz.')
  flags.DEFINE_string('output_dir', None, 'Run directory (checkpoints, config.json, train/).')
  flags.DEFINE_integer('radius', _MODEL.radius, 'Frames each side of the key frame.')
  flags.DEFINE_integer('width', _MODEL.width, 'Channels of every feature.')
  flags.DEFINE_integer('num_stages', _MODEL.num_stages, 'Stages of temporal differences.')
  flags.DEFINE_boolean('differences', _MODEL.differences, 'Temporal differences (--nodifferences: '
                       'the capacity control, the features themselves through the same layers).')
  flags.DEFINE_integer('kernel_size', _MODEL.kernel_size, 'Temporal convolution kernel.')
  flags.DEFINE_float('mi_weight', _MODEL.mi_weight, 'Weight of the CLUB bound of I(useful; '
                     'noisy) (0: no MI term, no estimator).')
  flags.DEFINE_float('jitter', _NOISE.jitter, 'Detector model: Gaussian jitter (normalised).')
  flags.DEFINE_float('miss_rate', _NOISE.miss_rate, 'Detector model: fraction of missed joints.')
  flags.DEFINE_integer('miss_burst', _NOISE.miss_burst, 'Detector model: frames a miss lasts.')
  flags.DEFINE_float('swap_rate', _NOISE.swap_rate, 'Detector model: frames with left and right '
                     'exchanged.')
  flags.DEFINE_float('outlier_rate', _NOISE.outlier_rate, 'Detector model: joints placed '
                     'uniformly within --outlier_scale of the truth.')
  flags.DEFINE_float('outlier_scale', _NOISE.outlier_scale, 'Detector model: outlier range '
                     '(normalised).')
  flags.DEFINE_integer('batch_size', _RUN.batch_size, 'Windows a step.')
  flags.DEFINE_integer('num_steps', _RUN.num_steps, 'Training steps.')
  flags.DEFINE_float('learning_rate', _RUN.learning_rate, 'Adam, cosine-decayed to 5 %.')
  flags.DEFINE_float('min_score', _RUN.min_score, 'A joint at or below this confidence is '
                     'missing.')
  flags.DEFINE_integer('seed', _RUN.seed, 'Initial weights and every batch.')
  flags.DEFINE_integer('checkpoint_interval', _RUN.checkpoint_interval, 'Steps between '
                       'checkpoints.')
  flags.DEFINE_boolean('overwrite', False, 'Replace a run made with other settings.')


def config_from_flags() -> configs.RefinerConfig:
  model = configs.TdmiConfig(radius=FLAGS.radius, width=FLAGS.width, num_stages=FLAGS.num_stages,
                          differences=FLAGS.differences, kernel_size=FLAGS.kernel_size,
                          mi_weight=FLAGS.mi_weight)
  noise = noise_lib.DetectorNoise(jitter=FLAGS.jitter, miss_rate=FLAGS.miss_rate,
                                  miss_burst=FLAGS.miss_burst, swap_rate=FLAGS.swap_rate,
                                  outlier_rate=FLAGS.outlier_rate,
                                  outlier_scale=FLAGS.outlier_scale)
  return configs.RefinerConfig(model=model, noise=noise, batch_size=FLAGS.batch_size,
                                   num_steps=FLAGS.num_steps, learning_rate=FLAGS.learning_rate,
                                   min_score=FLAGS.min_score, seed=FLAGS.seed,
                                   checkpoint_interval=FLAGS.checkpoint_interval)


def main(argv):
  del argv
  if not (FLAGS.tracks and FLAGS.output_dir):
    raise app.UsageError('--tracks and --output_dir are required.')
  config = config_from_flags()
  from poem_cvmim.temporal import refiner as refiner_lib  # pylint: disable=g-import-not-at-top
  refiner_lib.train(config, FLAGS.tracks, FLAGS.output_dir, FLAGS.overwrite)
  print(f'refiner: {FLAGS.output_dir} (step {config.num_steps}); run it with python -m '
        f'poem_cvmim.refine --refiner={FLAGS.output_dir} --input=... --output=...')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
