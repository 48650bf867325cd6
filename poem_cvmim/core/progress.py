"""Progress of a long loop, readable both on a terminal and in a log file.

On a terminal one line is rewritten in place (a carriage return before each update). Anywhere
else (a file, a pipe, a batch system's log) an update is a plain line of its own, at most one
per tenth of the way and the last: no carriage returns, no colour codes, so `tail` and `grep`
read the log as text.
"""

import sys
import time
from typing import Optional, TextIO

_BAR_WIDTH = 24
_PLAIN_LINES = 10  # lines of a loop in a log, about


class Progress:
  """Shows `done / total` with named values (`update(done, loss=..., **values)`)."""

  def __init__(self, total: int, label: str = 'step', stream: Optional[TextIO] = None,
               verbose: bool = True):
    self.total, self.label, self.verbose = total, label, verbose
    self._stream = stream if stream is not None else sys.stdout
    self._in_place = bool(getattr(self._stream, 'isatty', lambda: False)())
    self._start = time.time()
    self._open_line = False
    self._next_line = 0  # plain lines: the next `done` worth a line

  def update(self, done: int, **values: float) -> None:
    if not self.verbose:
      return
    shown = '  '.join(f'{name} {value:.4g}' for name, value in values.items())
    text = f'{self.label} {done}/{self.total}'
    if self._in_place:
      filled = int(_BAR_WIDTH * done / max(self.total, 1))
      bar = '=' * filled + ('>' if filled < _BAR_WIDTH else '') + ' ' * (_BAR_WIDTH - filled - 1)
      elapsed = time.time() - self._start
      self._stream.write(f'\r{text} [{bar[:_BAR_WIDTH]}] {elapsed:.0f} s  {shown}\x20')
      self._open_line = True
      if done >= self.total:
        self.close()
    elif done >= self._next_line or done >= self.total:
      self._stream.write(f'{text}  {shown}\n' if shown else f'{text}\n')
      self._next_line = done + max(1, self.total // _PLAIN_LINES)
    self._stream.flush()

  def close(self) -> None:
    """Ends an in-place line (before other output, or at the end)."""
    if self._open_line:
      self._stream.write('\n')
      self._stream.flush()
      self._open_line = False
