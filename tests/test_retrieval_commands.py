"""The retrieval commands as a user runs them: evaluate_retrieval on sequence records with 3D,
on detector output and on pair records, and Figure 4, from a trained (smoke) run."""

import json
import os
import subprocess
import sys

import numpy as np

from data_prep import synthetic_dataset as synthetic
from poem_cvmim.core import detections
from tests import test_detections

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _driver(commands):
  payload = json.dumps([{'module': m, 'argv': a, 'env': {}} for m, a in commands])
  result = subprocess.run([sys.executable, '-m', 'tests.command_driver'], cwd=_ROOT,
                          input=payload, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.split('\nRESULTS ', 1)[1])


def _rig(directory, frames=6):
  """Two OpenPose cameras of a person whose arm swings: the same frames, shifted images."""
  for camera, shift in (('cam_a', 0), ('cam_b', 300)):
    os.makedirs(directory / camera)
    for frame in range(frames):
      values = np.array(test_detections._layout_values(detections.BODY25, shift)).reshape(-1, 3)
      values[4, 1] -= 40 * frame  # the right wrist rises
      if frame == 2 and camera == 'cam_b':
        values[7] = 0.0  # a missed left wrist
      with open(directory / camera / f'{camera}_{frame:012d}_keypoints.json', 'w') as f:
        json.dump({'people': [{'pose_keypoints_2d': values.ravel().tolist()}]}, f)


def test_retrieval_and_figure4_commands(smoke_dir, tmp_path):
  from data_prep import h36m_dataset as h36m  # pylint: disable=g-import-not-at-top
  from tests.testdata import make_fixtures as fx  # pylint: disable=g-import-not-at-top
  run, out = str(tmp_path / 'run'), tmp_path / 'out'
  h36m.convert(h36m.H36mConfig(output_dir=str(tmp_path / 'h36m'), h5_dir=os.path.join(
      fx.HERE, fx.H36M, 'h5')), log=lambda _: None)
  _rig(tmp_path / 'rig')
  bad = tmp_path / 'bad_rig'
  _rig(bad, frames=2)
  (bad / 'cam_b' / 'cam_b_000000000001_keypoints.json').write_text('{"people": [')
  heldout = os.path.join(smoke_dir, synthetic.HELDOUT_DIR)
  outcomes = _driver([
      ('poem_cvmim.train', ['--smoke', f'--log_dir_path={run}',
                            f'--input_table={smoke_dir}/pairs/train-*']),
      ('poem_cvmim.evaluate_retrieval', [f'--sequences={heldout}', f'--embedders=raw,{run}',
                                         '--frame_stride=2', f'--output_dir={out}/seq']),
      ('poem_cvmim.evaluate_retrieval', [f'--detections={tmp_path / "rig"}',
                                         f'--embedders=raw,{run}', '--tolerance=1',
                                         f'--output_dir={out}/rig']),
      ('poem_cvmim.evaluate_retrieval', [f'--pairs={smoke_dir}/pairs/train-*',
                                         '--embedders=raw', '--frame_stride=3']),
      ('poem_cvmim.evaluate_retrieval', [f'--detections={bad}', '--embedders=raw']),
      ('experiments.figure4', [f'--embedder={run}', f'--sequences={heldout}',
                               '--num_queries=2', f'--output={out}/figure4.png']),
      ('experiments.figure4', ['--embedder=raw', f'--sequences={heldout}']),
      ('experiments.figure4', [f'--embedder={run}', f'--pairs={tmp_path}/h36m/train-*',
                               '--num_queries=2', '--frame_stride=1',
                               f'--output={out}/figure4_h36m.png']),
  ])
  for outcome in outcomes[:4] + outcomes[5:6]:
    assert outcome['code'] == 0, outcome['stderr'][-2000:]
  # Sequence records with 3D: both criteria, every ordered pair of the four cameras.
  summary = json.load(open(out / 'seq' / 'retrieval.json'))
  assert summary['criteria'] == ['frame', 'pose']
  for name in ('raw', run):
    rates = summary['embedders'][name]['hit_rates']
    assert len(rates['pose']['pairs']) == 12
    for k in ('1', '5', '10'):
      # A pose match includes the same instant's pose: never rarer than the frame criterion.
      assert rates['pose']['mean'][k] >= rates['frame']['mean'][k]
  assert 'view' in summary['embedders'][run]['same_view_rate']
  assert '| raw | NP-MPJPE ≤ 0.1 |' in open(out / 'seq' / 'retrieval.md').read()
  # Detector output: raw keypoints of a translated copy find the same frame (±1) every time.
  rig = json.load(open(out / 'rig' / 'retrieval.json'))
  assert rig['criteria'] == ['frame']
  assert rig['embedders']['raw']['hit_rates']['frame']['mean']['1'] == 1.0
  assert rig['filled_joint_fraction'] == {'cam_a': 0.0, 'cam_b': 1 / (6 * 13)}
  assert 'cam1 → cam2' in outcomes[3]['stdout']  # pair records: views are their cameras
  assert outcomes[4]['code'] == 2
  assert 'cam_b_000000000001_keypoints.json: not valid JSON' in outcomes[4]['stderr']
  # Figure 4: a PNG and what each panel shows; pose neighbours from other cameras.
  assert os.path.getsize(out / 'figure4.png') > 10_000
  panels = json.load(open(out / 'figure4.json'))
  assert len(panels) == 2 and all(len(p['pose']) == 5 and len(p['view']) == 5 for p in panels)
  for panel in panels:
    camera = panel['query'].split()[0]
    assert all(not n.startswith(camera + ' ') for n in panel['pose'])
  assert outcomes[6]['code'] == 2 and 'no view embedding' in outcomes[6]['stderr']
  # Figure 4 from converted Human3.6M pair records, as in the paper: views are its cameras.
  assert outcomes[7]['code'] == 0, outcomes[7]['stderr'][-2000:]
  panels = json.load(open(out / 'figure4_h36m.json'))
  assert len(panels) == 2
  for panel in panels:
    camera = panel['query'].split()[0]
    assert camera.isdigit() and all(not n.startswith(camera + ' ') for n in panel['pose'])
