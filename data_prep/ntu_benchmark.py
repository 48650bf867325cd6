r"""Throughput of the NTU RGB+D reader and converter on generated `.skeleton` files.

  python -m data_prep.ntu_benchmark [--num_files=1000] [--workers=1,2] [--rounds=3] \
      [--work_dir=/tmp/ntu_bench]

Writes `num_files` files of realistic size (80-120 frames, one body, or two for a third of
them, 25 joints of 12 fields, CRLF) once, checks that our parser and a plain-Python reference
reader read every file alike, then, in interleaved rounds, times both readers and the
conversion to sequence records with each worker count (files/s), and checks that every
worker count wrote the same shards.
"""

import json
import os
import shutil
import tempfile
import time

from absl import flags
import numpy as np

from data_prep import ntu_rgbd_dataset as ntu
from data_prep import ntu_skeleton
from poem_cvmim.core import cli
from poem_cvmim.core import timing

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_integer('num_files', 1000, 'Skeleton files to generate.')
  flags.DEFINE_integer('rounds', 3, 'Interleaved rounds of every measurement.')
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


ALL = slice(None)
_JOINT_FIELD_NAMES = ('x', 'y', 'z', 'depthX', 'depthY', 'colorX', 'colorY', 'orientationW',
                      'orientationX', 'orientationY', 'orientationZ', 'trackingState')
_BODY_FIELD_NAMES = ('bodyID', 'clipedEdges', 'handLeftConfidence', 'handLeftState',
                     'handRightConfidence', 'handRightState', 'isResticted', 'leanX', 'leanY',
                     'trackingState')


def plain_python_skeleton(path: str) -> ntu_skeleton.Skeleton:
  """The reference reader: plain Python in the manner of ST-GCN's `read_skeleton` (a line at a
  time, `float` per field, a dict per joint), giving the same Skeleton as our parser."""
  with open(path) as f:
    num_frames = int(f.readline())
    bodies = {}
    for frame in range(num_frames):
      for _ in range(int(f.readline())):
        info = dict(zip(_BODY_FIELD_NAMES, f.readline().split()))
        joints = []
        for _ in range(int(f.readline())):
          joint = {k: float(v) for k, v in zip(_JOINT_FIELD_NAMES, f.readline().split())}
          joints.append([joint[k] for k in _JOINT_FIELD_NAMES])
        body = bodies.setdefault(info['bodyID'], ntu_skeleton.Body([], []))
        body.frames.append(frame)
        body.joints.append(np.array(joints))
  return ntu_skeleton.Skeleton(num_frames, bodies)


def _same_skeleton(a: ntu_skeleton.Skeleton, b: ntu_skeleton.Skeleton, fields) -> bool:
  return (a.num_frames == b.num_frames and list(a.bodies) == list(b.bodies) and all(
      a.bodies[k].frames == b.bodies[k].frames
      and np.array_equal(np.stack(a.bodies[k].joints)[..., fields],
                         np.stack(b.bodies[k].joints)[..., fields])
      for k in a.bodies))


def _our_reader(path):
  """Our parser as the converter calls it (the fields the records use)."""
  return ntu_skeleton.read_skeleton(path, ntu.JOINT_FIELDS_READ)


def _files_per_second(function, paths) -> float:
  start = time.perf_counter()
  for path in paths:
    function(path)
  return len(paths) / (time.perf_counter() - start)


def _convert_seconds(inputs, output, workers) -> float:
  shutil.rmtree(output, ignore_errors=True)
  config = ntu.NtuConfig(input_dir=inputs, output_dir=output, num_workers=workers)
  start = time.perf_counter()
  ntu.convert(config, log=lambda _: None)
  return time.perf_counter() - start


def run(work_dir: str, num_files: int, workers, rounds: int, seed: int = 0, log=print) -> dict:
  """Files/s of each reader and each worker count over `rounds` interleaved rounds.

  `our_reader` is the parser as the converter calls it (6 of the 12 joint fields converted),
  `our_reader_all_fields` converts all 12, as the reference reader does.
  """
  inputs = os.path.join(work_dir, 'skeletons')
  os.makedirs(inputs, exist_ok=True)
  start = time.time()
  paths = sorted(write_file(inputs, i, seed) for i in range(num_files))
  size = sum(os.path.getsize(p) for p in paths)
  log(f'generated {len(paths)} files, {size / 2**20:.0f} MiB, in {time.time() - start:.0f} s')
  for path in paths:
    reference = plain_python_skeleton(path)
    if not (_same_skeleton(ntu_skeleton.read_skeleton(path), reference, ALL)
            and _same_skeleton(_our_reader(path), reference, list(ntu.JOINT_FIELDS_READ))):
      raise RuntimeError(f'our parser and the reference reader differ on {path}')
  rates = {'plain_python_reader': [], 'our_reader_all_fields': [], 'our_reader': []}
  rates.update({f'convert_{w}_workers': [] for w in workers})
  shard_hashes = set()
  for index in range(rounds):
    rates['plain_python_reader'].append(_files_per_second(plain_python_skeleton, paths))
    rates['our_reader_all_fields'].append(_files_per_second(ntu_skeleton.read_skeleton, paths))
    rates['our_reader'].append(_files_per_second(_our_reader, paths))
    for w in workers:
      output = os.path.join(work_dir, f'out_{w}')
      rates[f'convert_{w}_workers'].append(len(paths) / _convert_seconds(inputs, output, w))
      with open(os.path.join(output, 'sequences', 'manifest.json')) as f:
        shard_hashes.add(json.dumps(json.load(f)['shards'], sort_keys=True))
    log(f'round {index + 1} of {rounds}: '
        + ', '.join(f'{k} {v[-1]:.1f}' for k, v in rates.items()) + ' files/s')
  if len(shard_hashes) != 1:
    raise RuntimeError('the worker counts wrote different shards')
  return rates


def format_report(rates: dict, workers) -> str:
  rounds = len(rates['our_reader'])
  lines = [f'NTU RGB+D .skeleton files/s ({rounds} interleaved rounds, medians [min–max]; '
           'conversion includes the worker pool start-up)']
  for name, values in rates.items():
    lines.append(f'{name:22s} {timing.spread(values, "{:.1f}")}')

  def ratio(a, b):
    return timing.spread([x / y for x, y in zip(rates[a], rates[b])])

  for name in ('our_reader_all_fields', 'our_reader'):
    lines.append(f'{name} / plain Python reader : {ratio(name, "plain_python_reader")}')
  one = f'convert_{workers[0]}_workers'
  lines.append(f'{one} / plain Python reader : {ratio(one, "plain_python_reader")}')
  for w in workers[1:]:
    lines.append(f'convert_{w}_workers / {one}  : {ratio(f"convert_{w}_workers", one)}')
  lines.append('shards identical across worker counts: yes')
  return '\n'.join(lines)


def main(argv):
  del argv
  workers = [int(w) for w in FLAGS.workers]
  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix='ntu_bench_')
  rates = run(work_dir, FLAGS.num_files, workers, FLAGS.rounds, FLAGS.seed)
  print(format_report(rates, workers))


if __name__ == '__main__':
  cli.run(main, define_flags)
