"""Runs several commands, one after another, in one process (TensorFlow is imported once).

  python -m tests.command_driver < commands.json

stdin: a JSON list of {"module": ..., "argv": [...], "env": {...}}; stdout: a JSON list of
{"code": exit status, "stdout": ..., "stderr": ...}. Each command runs through the same
`cli.run(main, define_flags)` as from a shell; between commands, the flags the previous one
defined are removed. Used by the tests of one-line errors, where starting a process per case
would cost most of the test's time.
"""

import contextlib
import importlib
import io
import json
import os
import sys

from absl import flags

from poem_cvmim.core import cli


def _remove_command_flags():
  for name in list(flags.FLAGS):
    module = flags.FLAGS.find_module_defining_flag(name) or ''
    if module.split('.')[0] in ('poem_cvmim', 'data_prep', 'experiments'):
      delattr(flags.FLAGS, name)


def run_one(module_name: str, argv: list, env: dict) -> dict:
  _remove_command_flags()
  module = importlib.import_module(module_name)
  saved_env, saved_argv = dict(os.environ), sys.argv
  os.environ.update(env)
  sys.argv = [module_name] + list(argv)
  out, err = io.StringIO(), io.StringIO()
  code = 0
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      cli.run(module.main, module.define_flags)
  except SystemExit as exit_:
    code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
  finally:
    os.environ.clear()
    os.environ.update(saved_env)
    sys.argv = saved_argv
    flags.FLAGS.unparse_flags()
  return {'code': code, 'stdout': out.getvalue(), 'stderr': err.getvalue()}


def main():
  commands = json.load(sys.stdin)
  results = [run_one(c['module'], c['argv'], c.get('env', {})) for c in commands]
  sys.stdout.write('\nRESULTS ' + json.dumps(results) + '\n')


if __name__ == '__main__':
  main()
