r"""Throughput of the NTU RGB+D converter on generated `.skeleton` files.

  python -m data_prep.ntu_benchmark [--num_files=2000] [--workers=1,2] [--work_dir=/tmp/ntu_bench]

Writes `num_files` files of realistic size (80-120 frames, one body, or two for a third of
them, 25 joints of 12 fields, CRLF) once, converts them to sequence records with each worker
count, prints files/s, and checks that every worker count wrote the same shards.
"""

import os
import shutil
import tempfile
import time

from absl import flags
import numpy as np

from data_prep import ntu_rgbd_dataset as ntu
from data_prep import ntu_skeleton
from poem_cvmim.core import cli

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_integer('num_files', 2000, 'Skeleton files to generate.')
  flags.DEFINE_list('workers', ['1', '2'], 'Worker counts to time.')
  flags.DEFINE_string('work_dir', None, 'Where to write inputs and outputs (default: a temp dir).')
  flags.DEFINE_integer('seed', 0, 'Seed of the generated files.')

_FRAME_RANGE = (80, 121)
_TWO_BODY_RATE = 1 / 3
_NAMES_PER_SETUP = 3 * 2 * 49  # cameras x replications x single-person actions


def _body(rng, num_frames, offset):
  """[frames, 25, 12] joint fields of a body drifting and waving about a random pose."""
  base = rng.normal(0, 0.3, (25, 3)) + (offset, 0.0, 3.0)
  motion = rng.normal(0, 0.02, (num_frames, 25, 3)).cumsum(axis=0)
  xyz = base + motion
  joints = np.zeros((num_frames, 25, 12))
  joints[..., :3] = xyz
  joints[..., 3] = 256 + 360 * xyz[..., 0] / xyz[..., 2]
  joints[..., 4] = 212 - 360 * xyz[..., 1] / xyz[..., 2]
  joints[..., 5] = 960 + 1060 * xyz[..., 0] / xyz[..., 2]
  joints[..., 6] = 540 - 1060 * xyz[..., 1] / xyz[..., 2]
  joints[..., 7:11] = rng.normal(0, 0.5, (num_frames, 25, 4))
  joints[..., 11] = rng.choice([0, 1, 2], (num_frames, 25), p=[0.01, 0.09, 0.9])
  return joints


def write_file(directory: str, index: int, seed: int) -> str:
  rng = np.random.default_rng([seed, index])
  num_frames = int(rng.integers(*_FRAME_RANGE))
  bodies = [('72057594037' + f'{index:06d}1', _body(rng, num_frames, 0.0))]
  if rng.random() < _TWO_BODY_RATE:
    bodies.append(('72057594037' + f'{index:06d}2', _body(rng, num_frames, 0.8)))
  frames = [[(body_id, joints[t]) for body_id, joints in bodies] for t in range(num_frames)]
  setup = index // _NAMES_PER_SETUP + 1  # distinct names: one per (S, C, R, A)
  name = (f'S{setup:03d}C{index % 3 + 1:03d}P{(setup - 1) % 40 + 1:03d}'
          f'R{index // 3 % 2 + 1:03d}A{index // 6 % 49 + 1:03d}')
  path = os.path.join(directory, name + ntu_skeleton.FILE_SUFFIX)
  with open(path, 'w', newline='') as f:
    f.write(ntu_skeleton.format_skeleton(frames))
  return path


def main(argv):
  del argv
  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix='ntu_bench_')
  inputs = os.path.join(work_dir, 'skeletons')
  os.makedirs(inputs, exist_ok=True)
  start = time.time()
  names = {os.path.basename(write_file(inputs, i, FLAGS.seed)) for i in range(FLAGS.num_files)}
  size = sum(os.path.getsize(os.path.join(inputs, n)) for n in names)
  print(f'generated {len(names)} files, {size / 2**20:.0f} MiB, in {time.time() - start:.0f} s')
  shard_sets = {}
  for workers in (int(w) for w in FLAGS.workers):
    output = os.path.join(work_dir, f'out_{workers}')
    shutil.rmtree(output, ignore_errors=True)
    config = ntu.NtuConfig(input_dir=inputs, output_dir=output, num_workers=workers)
    start = time.time()
    manifest = ntu.convert(config, log=lambda _: None)['sequences']
    seconds = time.time() - start
    shard_sets[workers] = manifest['shards']
    print(f'workers={workers}: {manifest["num_records"]} records, '
          f'{len(manifest["skipped"])} skipped, {seconds:.1f} s, '
          f'{len(names) / seconds:.1f} files/s (pool start-up included)')
  same = len({tuple(sorted(s.items())) for s in shard_sets.values()}) == 1
  print(f'shards identical across worker counts: {same}')


if __name__ == '__main__':
  cli.run(main, define_flags)
