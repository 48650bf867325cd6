"""Converted records feed the rest of the library: pair records the training input pipeline
(with camera augmentation), sequence records the feature extractor."""

import os

import numpy as np
import pytest

from data_prep import h36m_dataset as h36m
from data_prep import ntu_rgbd_dataset as ntu
from data_prep import penn_action_dataset as penn
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import features
from poem_cvmim.core import keypoints
from poem_cvmim.representation import pipeline
from tests.testdata import make_fixtures as fx

_QUIET = lambda _: None  # pylint: disable=unnecessary-lambda-assignment


@pytest.mark.parametrize('dataset', ['h36m', 'ntu'])
def test_pair_records_batch_into_model_inputs(tmp_path, dataset):
  if dataset == 'h36m':
    h36m.convert(h36m.H36mConfig(output_dir=str(tmp_path), h5_dir=os.path.join(
        fx.HERE, fx.H36M, 'h5')), log=_QUIET)
    directory, profile_3d = tmp_path, keypoints.LEGACY_3DH36M17
  else:
    ntu.convert(ntu.NtuConfig(input_dir=os.path.join(fx.HERE, fx.NTU, 'skeletons'),
                              output_dir=str(tmp_path), mode='pairs'), log=_QUIET)
    directory, profile_3d = tmp_path / 'pairs', keypoints.STD_3D13
  batches = pipeline.pair_dataset(str(directory / 'train-*'), 8, keypoints.LEGACY_2DCOCO13,
                                  profile_3d, seed=0, num_epochs=1)
  batch = next(iter(batches))
  inputs, _ = pipeline.make_model_inputs(batch, '2D_INPUT_AND_3D_PROJECTION',
                                         keypoints.LEGACY_2DCOCO13, profile_3d, seed=0)
  for poses in (np.asarray(inputs[pipeline.ANCHOR]), np.asarray(inputs[pipeline.POSITIVE])):
    assert poses.shape == (8, 13, 2) and np.all(np.isfinite(poses))
    # Profile-normalised: hip centre at the origin, largest torso distance 0.5.
    np.testing.assert_allclose(poses[:, 7:9].mean(axis=1), 0, atol=1e-5)


@pytest.mark.parametrize('dataset', ['penn_action', 'ntu'])
def test_sequence_records_give_feature_tables(tmp_path, dataset):
  if dataset == 'penn_action':
    penn.convert(penn.PennConfig(input_dir=os.path.join(fx.HERE, fx.PENN),
                                 output_dir=str(tmp_path / 'seq')), log=_QUIET)
    sequences, rate, length, clips = tmp_path / 'seq', 2, 332, 3
  else:
    ntu.convert(ntu.NtuConfig(input_dir=os.path.join(fx.HERE, fx.NTU, 'skeletons'),
                              output_dir=str(tmp_path / 'seq')), log=_QUIET)
    sequences, rate, length, clips = tmp_path / 'seq' / 'sequences', 1, 300, 4
  manifest = features.write_feature_table(str(sequences), str(tmp_path / 'features'),
                                          embedders.load_embedder('raw'), rate, log=_QUIET)
  assert manifest['num_records'] == clips
  assert manifest['sequence_length'] == length and manifest['feature_dim'] == 26


def test_human36m_pairs_give_the_retrieval_protocol_by_camera(tmp_path):
  """Converted Human3.6M pair records (S9/S11 in the protocol; the fixture's subjects here):
  one view per camera, each instant once; its world-frame 3D makes the same instant in every
  other camera a match by all three criteria."""
  from poem_cvmim.evaluation import embedders  # pylint: disable=g-import-not-at-top
  from poem_cvmim.evaluation import frame_sources  # pylint: disable=g-import-not-at-top
  from poem_cvmim.evaluation import retrieval  # pylint: disable=g-import-not-at-top
  h36m.convert(h36m.H36mConfig(output_dir=str(tmp_path), h5_dir=os.path.join(
      fx.HERE, fx.H36M, 'h5')), log=_QUIET)
  frames = frame_sources.load_pair_frames(str(tmp_path / 'train-*'))
  assert len(frames) == 4 and all(name.isdigit() for name in frames)  # the camera ids
  counts = {len(d.frames) for d in frames.values()}
  assert len(counts) == 1
  for data in frames.values():
    instants = list(zip(data.clips, data.frames))
    assert len(set(instants)) == len(instants)
  summary = retrieval.evaluate_embedders(
      {'raw': embedders.load_embedder('raw')}, frames, ks=(1, 100000),
      criteria=(retrieval.FRAME, retrieval.POSE, retrieval.MPJPE_MM))
  for criterion in (retrieval.FRAME, retrieval.POSE, retrieval.MPJPE_MM):
    rates = summary['embedders']['raw']['hit_rates'][criterion]
    assert len(rates['pairs']) == 12
    assert rates['mean'][100000] == 1.0  # the whole gallery holds each query's instant
