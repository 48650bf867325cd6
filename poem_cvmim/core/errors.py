"""The project's own error types: what a user can cause and fix.

A command prints these as one line (`core.cli`); any other exception is a bug and keeps its
traceback. Each type also derives from the built-in type that code outside the project
expects (`InputError` is a ValueError), so callers that catch the built-in type still work.
"""


class UserError(Exception):
  """A failure the user can fix (a bad value, file or directory); printed as one line."""


class InputError(UserError, ValueError):
  """A flag value, a file or a record is not what the code needs; the message says which."""


class StateError(UserError, RuntimeError):
  """A directory is busy or holds something else (a lock, another run's results)."""


class Interrupted(UserError):
  """The process was asked to stop (SIGINT, SIGTERM) and stopped cleanly.

  `exit_code` is the shell's convention, 128 + the signal number.
  """

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code


def require(condition: bool, message: str) -> None:
  """Raises InputError(message) unless `condition`."""
  if not condition:
    raise InputError(message)
