"""The commands' answers to the inputs of the second reliability pass: one line each, before
anything is written; a bug keeps its traceback; the main job's directory is not claimed by a
command that fails its checks."""

import os

import numpy as np
import pytest
from absl import app

from poem_cvmim.core import cli
from poem_cvmim.core import errors
from tests.test_reliability import _driver
from tests.test_reliability import _one_error_line


def test_bad_values_and_inputs_are_one_line_before_anything_is_written(smoke_dir, raw_table,
                                                                        tmp_path):
  unit = tmp_path / 'unit.npy'  # poses in [0, 1] units of the image, given without its size
  poses = np.tile(np.linspace(0.2, 0.8, 26).reshape(1, 13, 2), (3, 1, 1))
  np.save(unit, poses)
  zeros = tmp_path / 'zeros.csv'
  np.savetxt(zeros, np.vstack([poses.reshape(3, 26) * 1000, np.zeros((1, 26))]),
             delimiter=',')
  embed = [f'--saved_model={tmp_path}/none', f'--output={tmp_path}/e.npy']
  train = ['--smoke', f'--log_dir_path={tmp_path}/run',
           f'--input_table={smoke_dir}/pairs/train-*']
  action = [f'--feature_dir={raw_table}', '--preset=smoke']
  rig = ['--detections=somewhere', '--embedders=raw']
  cases = [  # (label, module, argv, expected text)
      ('NaN learning rate', 'poem_cvmim.train', train + ['--learning_rate=nan'],
       '--learning_rate=nan: not a finite number'),
      ('negative learning rate', 'poem_cvmim.train', train + ['--learning_rate=-0.1'],
       'learning_rate must be a positive number, got -0.1'),
      ('a 3D profile as the 2D one', 'poem_cvmim.train',
       train + ['--keypoint_profile_name_2d=3DSTD13'], "Unknown 2D keypoint profile '3DSTD13'"),
      ('a 3D profile for features', 'poem_cvmim.extract_features',
       [f'--sequence_dir={smoke_dir}/penn_like', '--embedder=raw', f'--output_dir={tmp_path}/f',
        '--keypoint_profile_name_2d=3DSTD13'], 'keypoint_profile_name_2d'),
      ('Hit@0', 'poem_cvmim.evaluate_retrieval', rig + ['--ks=0'],
       '--ks=0: give one or more whole numbers >= 1'),
      ('an image size of 0,0', 'poem_cvmim.evaluate_retrieval', rig + ['--image_size=0,0'],
       '--image_size=0,0: height and width must be positive'),
      ('a single image size', 'poem_cvmim.embed', embed + [f'--input={unit}',
                                                           '--image_size=1080'],
       '--image_size takes HEIGHT,WIDTH'),
      ('an unknown criterion', 'poem_cvmim.evaluate_retrieval', rig + ['--criteria=frames'],
       '--criteria=frames: each must be one of frame, pose'),
      ('unit coordinates without a size', 'poem_cvmim.embed', embed + [f'--input={unit}'],
       'as if normalised by the image size'),
      ('pixels with a 4K size', 'poem_cvmim.embed',
       embed + [f'--input={zeros}', '--image_size=2160,3840'], 'these look like pixels'),
      ('an all-zero pose', 'poem_cvmim.embed', embed + [f'--input={zeros}'],
       'pose 3 (0-based; 1 in all) has its shoulders and hips at one point'),
      ('a run name outside the output', 'poem_cvmim.train_action',
       action + ['--name=../../x', f'--output_dir={tmp_path}/runs'],
       "--name='../../x': a row name is one path component"),
      ('fractions with single-shot', 'poem_cvmim.train_action',
       action + ['--fractions=0.5', f'--output_dir={tmp_path}/runs'],
       '--fractions applies to --protocol=limited only'),
      ('bad seeds', 'poem_cvmim.train_action',
       action + ['--seeds=0,x', f'--output_dir={tmp_path}/runs'], '--seeds=0,x: not whole'),
      ('an unknown protocol', 'poem_cvmim.train_action',
       action + ['--protocol=single', f'--output_dir={tmp_path}/runs'], 'protocol'),
      ('zero encoder steps', 'experiments.quickstart',
       ['--smoke', '--cvmim_steps=0', f'--output_dir={tmp_path}/main'],
       'cvmim_steps'),
  ]
  outcomes = _driver([(module, argv, {}) for _, module, argv, _ in cases])
  wrong = []
  for (label, _, _, expected), outcome in zip(cases, outcomes):
    line = _one_error_line(outcome)
    print(f'{label}: {line or outcome}')
    if line is None or expected not in line:
      wrong.append(f'{label}: status {outcome["code"]}, stderr {outcome["stderr"][-800:]!r}')
  assert not wrong, '\n'.join(wrong)
  # Nothing was claimed: the main job with the right flags may still use the directory, the
  # run name did not escape, the embedding was not written.
  assert not os.path.exists(tmp_path / 'main' / 'identity.json')
  assert not os.path.exists(tmp_path.parent.parent / 'x')
  assert not os.path.exists(tmp_path / 'e.npy')


def test_only_the_projects_errors_are_one_line_a_bug_keeps_its_traceback(capsys):
  def main_raising(error):
    def main(argv):
      del argv
      raise error
    return cli.guarded(main)

  for expected in (errors.InputError('bad value'), errors.StateError('busy'),
                   FileNotFoundError(2, 'No such file or directory', '/nowhere'),
                   app.UsageError('--x is required')):
    with pytest.raises(SystemExit) as stopped:
      main_raising(expected)([])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.count('\n') == 1
  for bug in (ValueError('operands could not be broadcast'), KeyError('view'),
              RuntimeError('unexpected'), TypeError('NoneType')):
    with pytest.raises(type(bug)):
      main_raising(bug)([])
  with pytest.raises(SystemExit) as stopped:
    main_raising(errors.Interrupted('stopped by SIGTERM: saved', 143))([])
  assert stopped.value.code == 143
  assert capsys.readouterr().err == 'stopped by SIGTERM: saved\n'
