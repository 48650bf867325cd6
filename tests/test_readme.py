"""The README is a user's guide: short, and every command in it runs as written.

Each `python -m <module> ...` command in the README and in the guides under docs/ and
data_prep/ (code blocks and inline code) is run in a
fresh process up to the point where the command would start working: its flags are defined,
parsed and checked exactly as `cli.run` does, so an unknown flag, a misspelt module or a value
the command refuses fails here. The commands cheap enough to run in full (the refiner's
training tracks) run as written, from an empty directory; the others are run at smaller sizes
by the tests of their commands.
"""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
GUIDES = [README, os.path.join(ROOT, 'data_prep', 'README.md')] + sorted(
    glob.glob(os.path.join(ROOT, 'docs', '*.md')))
MAX_LINES = 300
_COMMAND = re.compile(r'(?:\.venv/bin/)?python3? -m ([\w.]+)(.*)')
# The packages whose commands run through `cli.run` (others, such as the set-up tools and
# `tests.testdata.make_fixtures`, which writes the fixtures when run, are not parsed).
_COMMAND_PACKAGES = ('poem_cvmim.', 'data_prep.', 'experiments.')
# Shell variables the guides' scripts use, with the values a scheduler would give (any other
# variable is a KeyError: a command the test cannot read as written).
_EXAMPLE_ENVIRONMENT = {'SLURM_ARRAY_TASK_ID': '3', 'SLURM_ARRAY_TASK_COUNT': '8'}
# Run only up to flag parsing: absl's app.run is replaced by one that parses and checks the
# flags with the command's own parser and exits 0.
_PARSE_ONLY = '''
import runpy, sys
from absl import app
def parse_only(main, argv=None, flags_parser=None, **unused):
  flags_parser(list(sys.argv))
  sys.exit(0)
app.run = parse_only
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)
'''


def _logical_lines(text):
  """Lines of the README's code blocks with backslash continuations joined, and the contents
  of inline code spans."""
  lines, block, pending = [], False, ''
  for line in text.splitlines():
    if line.strip().startswith('```'):
      block = not block
      continue
    if block:
      line = line.strip()
      if line.endswith('\\'):
        pending += line[:-1].rstrip() + ' '
        continue
      lines.append(pending + line)
      pending = ''
    else:
      lines.extend(re.findall(r'`([^`]+)`', line))
  return lines


def readme_commands(path=README):
  """(module, argv) of every `python -m` command of this project in one guide."""
  with open(path, encoding='utf-8') as f:
    text = f.read()
  commands = []
  for line in _logical_lines(text):
    for part in re.split(r'&&|\|', line.split('#')[0] if not line.startswith('#') else ''):
      match = _COMMAND.search(part.strip())
      if match and match.group(1).startswith(_COMMAND_PACKAGES):
        arguments = re.sub(r'\$\{?(\w+)\}?', lambda m: _EXAMPLE_ENVIRONMENT[m.group(1)],
                           match.group(2))
        commands.append((match.group(1), shlex.split(arguments)))
  return commands


def test_readme_is_short():
  with open(README, encoding='utf-8') as f:
    count = len(f.read().splitlines())
  assert count <= MAX_LINES, f'README.md has {count} lines; keep it to {MAX_LINES}.'


def test_the_readme_names_the_commands_a_user_needs():
  modules = {module for module, _ in readme_commands()}
  for needed in ('experiments.quickstart', 'data_prep.synthetic', 'data_prep.h36m',
                 'data_prep.penn_action', 'data_prep.ntu_rgbd', 'data_prep.mpi_inf_3dhp',
                 'data_prep.detections', 'poem_cvmim.train', 'poem_cvmim.export',
                 'poem_cvmim.embed', 'poem_cvmim.extract_features', 'poem_cvmim.train_action',
                 'poem_cvmim.evaluate_action', 'poem_cvmim.evaluate_retrieval',
                 'poem_cvmim.train_refiner', 'poem_cvmim.refine', 'experiments.figure4',
                 'experiments.table1', 'experiments.table5', 'experiments.figure3'):
    assert needed in modules, needed


def test_the_parser_finds_joined_and_inline_commands():
  lines = _logical_lines('```bash\npython -m a.b --x=1 \\\n    --y=2  # note\n```\n'
                         'see `python -m c.d --z` and `e`\n')
  assert lines == ['python -m a.b --x=1 --y=2  # note', 'python -m c.d --z', 'e']


def _all_commands():
  return [pytest.param(module, argv, id=f'{os.path.relpath(path, ROOT)}:{module}')
          for path in GUIDES for module, argv in readme_commands(path)]


@pytest.mark.parametrize('module,argv', _all_commands())
def test_command_parses_as_written(module, argv):
  result = subprocess.run([sys.executable, '-c', _PARSE_ONLY, module] + argv,
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
  assert result.returncode == 0, (
      f'python -m {module} {shlex.join(argv)}\n{result.stdout}\n{result.stderr}')


def test_parse_only_refuses_an_unknown_flag():
  """The check above can fail: a flag the command does not define is refused."""
  result = subprocess.run([sys.executable, '-c', _PARSE_ONLY, 'poem_cvmim.train',
                           '--no_such_flag=1'], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
  assert result.returncode == 2 and 'no_such_flag' in result.stderr, result.stderr


def test_refiner_tracks_command_runs_as_written(tmp_path):
  (command,) = [(m, a) for m, a in readme_commands()
                if m == 'data_prep.synthetic' and '--refiner_tracks_only' in a]
  module, argv = command
  result = subprocess.run([sys.executable, '-m', module] + argv, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT))
  assert result.returncode == 0, result.stderr
  assert os.path.exists(tmp_path / 'out/synthetic/refiner/train.npz')


@pytest.mark.parametrize('path', GUIDES, ids=lambda p: os.path.relpath(p, ROOT))
def test_links_between_guides_resolve(path):
  with open(path, encoding='utf-8') as f:
    targets = re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', f.read())
  missing = [t for t in targets if '://' not in t
             and not os.path.exists(os.path.join(os.path.dirname(path), t))]
  assert not missing, f'{os.path.relpath(path, ROOT)} links to missing files: {missing}'
