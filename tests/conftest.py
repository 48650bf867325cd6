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
