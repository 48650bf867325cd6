"""SIGINT (Ctrl-C) and SIGTERM (how SLURM, Kubernetes and `kill` stop a job) as a request to
stop at the next safe point, instead of an exception in the middle of a step.

    with interrupts.StopRequest() as stop:
      while ...:
        ...one chunk of work...
        if stop.requested:
          ...save, then raise stop.error(...)

A second Ctrl-C while the first is being honoured stops at once (KeyboardInterrupt). Outside
the main thread (where Python cannot install handlers) nothing is caught.
"""

import signal
import threading
from typing import Optional

from poem_cvmim.core import errors

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
  """Records the first SIGINT or SIGTERM received while active (a context manager)."""

  def __init__(self):
    self.signal_number: Optional[int] = None
    self._previous = {}

  @property
  def requested(self) -> bool:
    return self.signal_number is not None

  def _handle(self, number, frame):
    del frame
    if self.signal_number == signal.SIGINT and number == signal.SIGINT:
      raise KeyboardInterrupt  # pressed twice: the user does not want to wait
    self.signal_number = self.signal_number or number

  def __enter__(self) -> 'StopRequest':
    if threading.current_thread() is threading.main_thread():
      for number in SIGNALS:
        self._previous[number] = signal.signal(number, self._handle)
    return self

  def __exit__(self, *exc_info):
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    self._previous = {}

  def error(self, what: str) -> errors.Interrupted:
    """The exception that ends the process: `what` happened, exit status 128 + signal."""
    name = signal.Signals(self.signal_number).name
    return errors.Interrupted(f'stopped by {name}: {what}', 128 + self.signal_number)
