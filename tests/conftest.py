"""Test session set-up: quiet TensorFlow's C++ logging; one smoke synthetic set for all."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # pylint: disable=g-import-not-at-top

from data_prep import synthetic_dataset as synthetic  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope='session')
def smoke_dir(tmp_path_factory):
  """The synthetic smoke preset (pairs, penn_like, ntu_like), generated once per session."""
  directory = str(tmp_path_factory.mktemp('smoke'))
  synthetic.generate(synthetic.smoke_config(), directory, log=lambda _: None)
  return directory


@pytest.fixture(scope='session')
def raw_table(smoke_dir, tmp_path_factory):
  """The raw-keypoint feature table of the smoke set's penn_like clips (Penn's rate 2)."""
  from poem_cvmim.evaluation import embedders  # pylint: disable=g-import-not-at-top
  from poem_cvmim.evaluation import features  # pylint: disable=g-import-not-at-top
  directory = str(tmp_path_factory.mktemp('features') / 'raw')
  features.write_feature_table(os.path.join(smoke_dir, 'penn_like'), directory,
                               embedders.load_embedder(embedders.RAW), downsample_rate=2,
                               log=lambda _: None)
  return directory


@pytest.fixture
def float64():
  """Float64 layers for one test: comparing two ways of computing the same step."""
  import keras  # pylint: disable=g-import-not-at-top
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy('float64')
  yield
  keras.config.set_dtype_policy(previous)
