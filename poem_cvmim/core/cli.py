"""What every command shares: one-line errors with exit status 2, a `--help` that exits 0
and lists every flag the command accepts (its own and those of the project's modules it
uses, such as the converters' shared flags), not absl's logging flags; flag values checked
when they are parsed; and a quiet start.

A command ends with `cli.run(main, define_flags)` in place of `app.run(main)`, and imports
TensorFlow only inside `main` (with `tensorflow=True`, `run` imports it first, quietly), so
that `--help` answers in a fraction of a second.

Expected failures are the project's own (`core.errors.UserError`), the file system's
(`OSError`: a path, a permission, a full disk) and TensorFlow's reports of unreadable or
missing files: each is printed as one line. Anything else is a bug and keeps its traceback.
"""

import errno
import math
import os
import re
import signal
import sys
import tempfile
from typing import Callable

from absl import app
from absl import flags
from absl import logging

from poem_cvmim.core import errors
from poem_cvmim.core import lazy_tensorflow

EXPECTED_ERRORS = (errors.UserError, OSError, UnicodeDecodeError)
# TensorFlow's errors that report the user's files or machine, not a bug (added once
# TensorFlow is imported: they cannot be raised before).
_EXPECTED_TF_ERRORS = ('NotFoundError', 'PermissionDeniedError', 'DataLossError',
                       'ResourceExhaustedError')
EXIT_USAGE = 2
_OWN_PACKAGES = ('poem_cvmim', 'data_prep', 'experiments', '__main__')
_HELP_ARGUMENTS = ('--help', '-h', '--helpshort', '-?')
# The usual switch for TensorFlow's C++ log: when the user sets it, they see what it lets
# through, unfiltered. Otherwise commands set it to 3 and drop the start-up lines that
# TensorFlow prints before its log level applies. 3, not 2: TensorFlow 2.21 logs benign
# ERROR lines (a tf.data NodeDef attribute it does not know, on every pipeline); a real
# failure reaches Python as an exception, which the command reports.
TF_LOG_VARIABLE = 'TF_CPP_MIN_LOG_LEVEL'
_START_UP_NOISE = re.compile(
    r'^(WARNING: All log messages before absl::InitializeLog\(\) is called'
    r'|[IW]\d{4} [\d:.]+ +\d+ \S+\] '
    r'|E\d{4} .*(failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory)'
    r'|To enable the following instructions: .*rebuild TensorFlow)')


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
  """EXPECTED_ERRORS, with TensorFlow's file errors once TensorFlow is imported."""
  if 'tensorflow' not in sys.modules:
    return EXPECTED_ERRORS
  return EXPECTED_ERRORS + tuple(getattr(lazy_tensorflow.deferred.errors, name)
                                 for name in _EXPECTED_TF_ERRORS)


def guarded(main: Callable, tensorflow: bool = False) -> Callable:
  """`main` with expected failures turned into one-line errors (exit status 2; a stop on
  SIGINT or SIGTERM exits with 128 + the signal's number). With `tensorflow`, TensorFlow is
  imported quietly first (after the flags were parsed and checked)."""

  def wrapped(argv):
    if 'verbosity' in flags.FLAGS and not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)  # no INFO lines from libraries (-v=0 shows them)
    try:
      if tensorflow:
        quiet_tensorflow_start()
      return main(argv)
    except app.UsageError as error:
      fail(errors.InputError(str(error)))
    except errors.Interrupted as error:
      print(str(error), file=sys.stderr, flush=True)
      sys.exit(error.exit_code)
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (which saves and stops itself)
      print('\nstopped by SIGINT (Ctrl-C).', file=sys.stderr, flush=True)
      sys.exit(128 + signal.SIGINT)
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


def register_check(name: str, check: Callable) -> None:
  """Checks flag `name` when flags are parsed: `check(value)` raises errors.InputError for a
  bad value (None, the flag not given, is not checked)."""

  def validator(value):
    if value is not None:
      try:
        check(value)
      except errors.InputError as error:
        raise flags.ValidationError(str(error)) from None
    return True

  flags.register_validator(name, validator)


def whole_numbers(name: str, minimum: int) -> Callable:
  """The parser of a list flag `--name` of whole numbers, each at least `minimum` (one or more);
  it raises errors.InputError naming the flag."""

  def parse(values) -> tuple:
    try:
      numbers = tuple(int(v) for v in values)
    except ValueError:
      raise errors.InputError(f'--{name}={",".join(values)}: not whole numbers.') from None
    if not numbers or min(numbers) < minimum:
      raise errors.InputError(f'--{name}={",".join(values)}: give one or more whole numbers '
                              f'>= {minimum}.')
    return numbers

  return parse


parse_seeds = whole_numbers('seeds', 0)


def run(main: Callable, define_flags: Callable, tensorflow: bool = False) -> None:
  """Defines the flags, answers --help (exit 0), checks the flag values, imports TensorFlow
  quietly when the command uses it, and runs `main` with one-line errors."""
  define_flags()
  if any(arg in _HELP_ARGUMENTS for arg in sys.argv[1:]):
    print(help_text())
    sys.exit(0)
  app.run(guarded(main, tensorflow), flags_parser=_parse_flags)


def _parse_flags(argv):
  try:
    argv = flags.FLAGS(argv)
  except flags.Error as error:
    # absl puts 'flag --ks=['0']: ' before a check's own message, which names the flag itself.
    own = re.match(r"^flag --(\w+)=.*?: (--\1\b.*)$", str(error), re.DOTALL)
    fail(errors.InputError(own.group(2) if own else f'{error} (--help lists the flags)'))
  _check_finite_floats(flags.FLAGS)
  return argv


def _check_finite_floats(flag_values) -> None:
  """A float flag given as nan or inf is refused before anything runs (a NaN learning rate
  would otherwise surface as a non-finite loss many steps later)."""
  for name in flag_values:
    flag = flag_values[name]
    if not flag.present:
      continue
    values = flag.value if isinstance(flag.value, list) else [flag.value]
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
      fail(errors.InputError(f'--{name}={flag.value}: not a finite number.'))


def quiet_tensorflow_start() -> None:
  """Imports TensorFlow and finds its devices with TensorFlow's C++ start-up lines hidden.

  With TF_CPP_MIN_LOG_LEVEL unset it is set to 3 (only fatal lines), and the lines TensorFlow
  prints before that level applies (the absl::InitializeLog notice, the search for CUDA
  drivers, the CPU-instructions note) are dropped; any other line of the start-up is shown as
  it was. With the variable set (TF_CPP_MIN_LOG_LEVEL=0 shows everything), nothing is hidden.
  """
  if TF_LOG_VARIABLE in os.environ or 'tensorflow' in sys.modules:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    return
  os.environ[TF_LOG_VARIABLE] = '3'
  with tempfile.TemporaryFile(mode='w+b') as captured:
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      tf.config.list_physical_devices()  # where cuInit runs
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
    captured.seek(0)
    for line in captured.read().decode(errors='replace').splitlines(keepends=True):
      if not _START_UP_NOISE.match(line):
        sys.stderr.write(line)
    sys.stderr.flush()
