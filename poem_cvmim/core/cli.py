"""What every command shares: one-line errors with exit status 2, and a `--help` that exits 0
and lists every flag the command accepts (its own and those of the project's modules it
uses, such as the converters' shared flags), not absl's logging flags.

A command ends with `cli.run(main, define_flags)` in place of `app.run(main)`.
"""

import errno
import sys
from typing import Callable

from absl import app
from absl import flags

from poem_cvmim.core import lazy_tensorflow

# Failures a user can cause and fix (paths, permissions, bad values, corrupt files, a busy or
# conflicting directory): printed as one line. Anything else is a bug and keeps its traceback.
# TensorFlow's own (tf.errors.OpError) are added by `expected_errors`, TensorFlow being
# imported only by commands that use it.
EXPECTED_ERRORS = (ValueError, OSError, FloatingPointError, RuntimeError, KeyError,
                   UnicodeDecodeError)
EXIT_USAGE = 2
_OWN_PACKAGES = ('poem_cvmim', 'data_prep', 'experiments', '__main__')
_HELP_ARGUMENTS = ('--help', '-h', '--helpshort', '-?')


# What to do about the file-system errors a user meets.
_OS_HINTS = {
    errno.ENOTDIR: 'a part of the path is a file, not a directory: choose another path',
    errno.EEXIST: 'a file is in the way: choose another path or move the file',
    errno.EISDIR: 'a directory is in the way: give a file',
    errno.EACCES: 'no permission: choose a location you can write to',
    errno.EPERM: 'not permitted: choose a location you can write to',
    errno.EROFS: 'read-only file system: choose a writable location',
    errno.ENOSPC: 'the disk is full: free space and run again (a killed run resumes)',
    errno.ENOENT: 'no such file or directory: check the path',
}


def one_line(error: BaseException) -> str:
  """`error: <what>, <where>, <what to do>` on one line."""
  if isinstance(error, OSError) and error.errno in _OS_HINTS and error.filename:
    return f'error: {error.strerror}: {error.filename} ({_OS_HINTS[error.errno]}).'
  lines = str(error).strip().splitlines() or [type(error).__name__]
  text = lines[0]
  if isinstance(error, KeyError):
    text = f'missing key {text}'
  return f'error: {text}'


def fail(error: BaseException) -> None:
  """Prints `error: <message>` on stderr and exits with status 2."""
  print(one_line(error), file=sys.stderr, flush=True)
  sys.exit(EXIT_USAGE)


def expected_errors() -> tuple:
  """EXPECTED_ERRORS, with tf.errors.OpError once TensorFlow is imported (it cannot be
  raised before)."""
  if 'tensorflow' not in sys.modules:
    return EXPECTED_ERRORS
  return EXPECTED_ERRORS + (lazy_tensorflow.tf.errors.OpError,)


def guarded(main: Callable) -> Callable:
  """`main` with expected failures turned into one-line errors (exit status 2)."""

  def wrapped(argv):
    try:
      return main(argv)
    except app.UsageError as error:
      fail(ValueError(str(error)))
    except expected_errors() as error:
      fail(error)

  return wrapped


def help_text(flag_values=flags.FLAGS) -> str:
  """Usage (the main module's docstring) and every flag of the project's modules."""
  main_module = sys.modules.get('__main__')
  lines = [(getattr(main_module, '__doc__', None) or '').strip(), '', 'flags:']
  for module, module_flags in sorted(flag_values.flags_by_module_dict().items()):
    if not module.split('.')[0].startswith(_OWN_PACKAGES) and module not in (
        sys.argv[0], getattr(main_module, '__file__', None)):
      continue
    for flag in sorted(module_flags, key=lambda f: f.name):
      default = '' if flag.default is None else f' (default: {flag.default_as_str})'
      lines.append(f'  --{flag.name}: {flag.help}{default}')
  return '\n'.join(lines)


def run(main: Callable, define_flags: Callable) -> None:
  """Defines the flags, answers --help (exit 0), and runs `main` with one-line errors."""
  define_flags()
  if any(arg in _HELP_ARGUMENTS for arg in sys.argv[1:]):
    print(help_text())
    sys.exit(0)
  app.run(guarded(main), flags_parser=_parse_flags)


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    fail(ValueError(f'{error} (--help lists the flags)'))
