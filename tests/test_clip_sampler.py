"""The clip-grouped sampler: instants spaced by the gap, one camera pair per clip where the clip
has it, a batch a function of (seed, step); training with temporal negatives resumes exactly,
starts from another run (--init_from) and refuses records without clip metadata in one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from poem_cvmim.core import errors
from poem_cvmim.core import records
from poem_cvmim.representation import clip_sampler
from poem_cvmim.representation import configs
from poem_cvmim.representation import restore
from poem_cvmim.representation import trainer as trainer_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_QUIET = lambda _: None


def _index():
  """Three clips: 'long' (frames 0..159, cameras (c0, c1) on even frames, (c2, c3) on odd),
  'short' (frames 0..9) and 'mid' (frames 0, 20, 40, 60 with two camera pairs each)."""
  instants, cameras = [], []
  def add(frames_to_pairs):
    clip = {}
    for frame, pairs in frames_to_pairs.items():
      clip[frame] = []
      for pair in pairs:
        clip[frame].append(len(cameras))
        cameras.append(pair)
    instants.append(clip)
  add({f: [(b'c0', b'c1') if f % 2 == 0 else (b'c2', b'c3')] for f in range(160)})
  add({f: [(b'c0', b'c1')] for f in range(10)})
  add({f: [(b'c0', b'c1'), (b'c1', b'c0')] for f in (0, 20, 40, 60)})
  return clip_sampler.ClipIndex([b'%d' % i for i in range(len(cameras))],
                                ['long', 'short', 'mid'], instants, cameras)


def _frames_of(index, rows):
  where = {record: (clip, frame) for clip, instants in enumerate(index.instants)
           for frame, records_ in instants.items() for record in records_}
  return [where[r] for r in rows]


def test_a_batch_is_clips_of_spaced_instants_seen_by_one_camera_pair():
  index = _index()
  sampler = clip_sampler.ClipSampler(index, batch_size=8, instants_per_clip=4, negative_gap=20)
  assert sampler.eligible == [0, 2]  # 'short' has no 4 instants 20 frames apart
  for step in range(20):
    rows = sampler.batch(step)
    located = _frames_of(index, rows)
    for block in (located[:4], located[4:]):
      clips = {clip for clip, _ in block}
      frames = sorted(frame for _, frame in block)
      assert len(clips) == 1 and all(b - a >= 20 for a, b in zip(frames, frames[1:]))
      assert len({index.cameras[r] for r in rows[:4]}) == 1  # one camera pair per clip
    assert {clip for clip, _ in located} == {0, 2}


def test_a_batch_depends_on_the_seed_and_step_only():
  index = _index()
  first = clip_sampler.ClipSampler(index, 8, 4, 20, seed=3)
  again = clip_sampler.ClipSampler(index, 8, 4, 20, seed=3)
  other = clip_sampler.ClipSampler(index, 8, 4, 20, seed=4)
  assert [again.batch(s) for s in (5, 2, 9)] == [first.batch(s) for s in (5, 2, 9)]
  assert any(first.batch(s) != other.batch(s) for s in range(5))
  assert any(first.batch(s) != first.batch(s + 1) for s in range(5))


def test_instants_are_spaced_even_where_random_orders_fail():
  rng = np.random.default_rng(0)
  for _ in range(200):  # 0, 10, ..., 50: six instants 10 apart only in one way
    chosen = clip_sampler.choose_instants(range(0, 51, 5), 6, 10, rng)
    assert chosen == [0, 10, 20, 30, 40, 50]
  assert clip_sampler.spaced([0, 3, 7, 8, 15], 5) == [0, 7, 15]


def test_few_long_clips_give_several_groups_and_too_few_is_one_line():
  index = _index()  # 'long' holds two groups of 4 instants 20 frames apart, 'mid' one
  sampler = clip_sampler.ClipSampler(index, 12, 4, 20)
  for step in range(10):
    located = _frames_of(index, sampler.batch(step))
    long_frames = sorted(f for c, f in located if c == 0)
    assert len(long_frames) == 8 and sum(c == 2 for c, _ in located) == 4
    assert all(b - a >= 20 for a, b in zip(long_frames, long_frames[1:]))
  with pytest.raises(errors.InputError, match=r'^rig: 2 of 3 clips hold 3 groups of 4 instants '
                     r'20 frames apart; a batch of 16 needs 4: lower --batch_size'):
    clip_sampler.ClipSampler(index, 16, 4, 20, source='rig')


def _train_command(smoke_dir, directory, steps, *extra):
  return [sys.executable, '-m', 'poem_cvmim.train', '--smoke',
          f'--input_table={os.path.join(smoke_dir, "pairs", "train-*")}',
          f'--log_dir_path={directory}', f'--num_iterations={steps}', '--checkpoint_interval=3',
          '--summary_interval=3', '--deterministic', '--seed=2', '--temporal_negatives',
          '--instants_per_clip=4', '--negative_gap=16', '--hard_negative_weight=4', *extra]


def _run(command):
  result = subprocess.run(command, cwd=_ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def test_temporal_negatives_train_from_the_command(smoke_dir, tmp_path):
  """(Exact resume after a signal, in processes of different hash seeds:
  tests/test_interrupts.py, clip-grouped input.)"""
  whole = str(tmp_path / 'whole')
  output = _run(_train_command(smoke_dir, whole, 4)).stdout
  terms = json.loads(output[output.index('{'):])
  assert terms['step'] == 4 and terms['mining/temporal_pairs_per_anchor'] > 0
  assert '[input] 288 pair records of 18 clips' in output
  config = restore.read_config(whole)
  assert config.instants_per_clip == 4 and config.algorithm.mining.temporal_negatives
  assert config.algorithm.mining.hard_negative_weight == 4.0


def test_init_from_starts_from_the_other_runs_networks(smoke_dir, tmp_path):
  source = str(tmp_path / 'source')
  trainer_lib.Trainer(configs.smoke_config(input_table=os.path.join(smoke_dir, 'pairs', 'train-*'),
                                    output_dir=source), log=_QUIET).train()
  adapted = trainer_lib.Trainer(configs.smoke_config(
      input_table=os.path.join(smoke_dir, 'pairs', 'train-*'), output_dir=str(tmp_path / 'a'),
      init_from=source, num_steps=1), log=_QUIET)
  trained, _, _ = restore.load_algorithm(source)
  adapted.restore()
  assert adapted.step == 0  # optimizer state and step start afresh
  for name, network in trained.networks().items():
    pairs = zip(network.variables, adapted.algorithm.networks()[name].variables)
    for a, b in [(a, b) for a, b in pairs if 'seed_generator' not in a.path]:  # dropout state
      np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f'{name}/{a.path}')
  other = trainer_lib.Trainer(configs.smoke_config(
      input_table=os.path.join(smoke_dir, 'pairs', 'train-*'), output_dir=str(tmp_path / 'b'),
      init_from=source, algorithm=configs.AlgorithmConfig(pose_embedding_dim=16,
                                                           view_embedding_dim=16)), log=_QUIET)
  with pytest.raises(errors.InputError, match='another architecture: algorithm.pose_embedding_'
                     'dim: 32 there, 16 here'):
    other.restore()


def test_records_without_clip_metadata_are_refused_in_one_line(tmp_path):
  path = str(tmp_path / 'pairs.tfrecord')
  example = records.make_example([[480, 640]] * 2, np.full((2, 13, 2), 0.5), np.ones((2, 13)),
                                 keypoints_3d=np.ones((2, 17, 3)))
  with records_writer(path) as writer:
    writer.write(records.serialize(example))
  config = configs.smoke_config(input_table=path, output_dir=str(tmp_path / 'run'),
                         instants_per_clip=2,
                         algorithm=configs.algorithm_config(temporal_negatives=True))
  with pytest.raises(errors.InputError, match=r"record 0 lacks 3 required keys: .*image/"
                     r"source_id.*\(clip-grouped batches and temporal negatives read each "
                     r"pair's clip, frame index and cameras"):
    trainer_lib.Trainer(config, log=_QUIET).train()
  assert not os.path.exists(tmp_path / 'run' / 'config.json')


def records_writer(path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.TFRecordWriter(path)


def test_temporal_negatives_need_clip_batches_and_cv_mim():
  with pytest.raises(errors.InputError, match='temporal_negatives needs clip-grouped batches'):
    configs.TrainConfig(algorithm=configs.algorithm_config(temporal_negatives=True))
  with pytest.raises(errors.InputError, match='temporal_negatives applies to DISENTANGLE, PR_VIPE, not '
                     'INFONCE'):
    configs.algorithm_config(algorithm='INFONCE', temporal_negatives=True)
  with pytest.raises(errors.InputError, match='ignore_gap <= negative_gap'):
    configs.algorithm_config(negative_gap=4, ignore_gap=6)
