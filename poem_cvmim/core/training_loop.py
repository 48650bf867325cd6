"""The one training loop: owns time — step counter, checkpoint and summary cadence, progress,
resume and the stop on a non-finite loss — while its caller owns the compiled steps.

Shaped like Orbit's controller: a trainer supplies `run(num_steps)`, which runs that many
compiled steps and returns the last step's named loss terms; the loop calls it between
boundaries (multiples of the checkpoint and summary intervals, and the last step), and at each
boundary checks the terms, writes summaries and checkpoints and updates the progress line.

SIGINT and SIGTERM stop the loop at the end of the running chunk (at most `poll_interval`
steps): it saves a checkpoint at that step and raises `errors.Interrupted`, so the command
ends with one line and a re-run resumes from that very step.
"""

import dataclasses
import math
import time
from typing import Callable, Optional

import tensorflow as tf

from poem_cvmim.core import checkpointing
from poem_cvmim.core import errors
from poem_cvmim.core import interrupts
from poem_cvmim.core import progress as progress_lib


class NonFiniteLossError(errors.UserError, FloatingPointError):
  """A loss term became NaN or Inf; the message names the step and the terms."""


@dataclasses.dataclass(frozen=True)
class Cadence:
  """When the loop stops to look: every interval is in steps; None turns a part off."""
  num_steps: int
  checkpoint_interval: Optional[int] = None
  summary_interval: Optional[int] = None
  # Steps of one compiled call at most: how long a SIGINT or SIGTERM waits to be honoured
  # (about 5 s of CV-MIM training on 2 CPU cores; a call costs a few milliseconds).
  poll_interval: Optional[int] = 50

  def __post_init__(self):
    for name in ('num_steps', 'checkpoint_interval', 'summary_interval', 'poll_interval'):
      value = getattr(self, name)
      if value is not None and value <= 0:
        raise errors.InputError(f'{name} must be positive, got {value}.')

  def next_stop(self, step: int) -> int:
    """The next boundary after `step`: a multiple of an interval, or the last step."""
    stops = [self.num_steps]
    for interval in (self.checkpoint_interval, self.summary_interval):
      if interval:
        stops.append((step // interval + 1) * interval)
    if self.poll_interval:
      stops.append(step + self.poll_interval)
    return min(stops)

  def is_checkpoint(self, step: int) -> bool:
    return step == self.num_steps or bool(
        self.checkpoint_interval and step % self.checkpoint_interval == 0)

  def is_summary(self, step: int) -> bool:
    return step == self.num_steps or bool(
        self.summary_interval and step % self.summary_interval == 0)


def check_finite(step: int, values: dict) -> None:
  """Raises NonFiniteLossError naming the step and every non-finite term."""
  bad = sorted(k for k, v in values.items() if not math.isfinite(v))
  if bad:
    raise NonFiniteLossError(f'Non-finite loss at step {step}: '
                             + ', '.join(f'{k}={values[k]}' for k in bad))


class Controller:
  """Runs `run(n)` until `step()` reaches the cadence's num_steps.

  Args:
    run: Runs n compiled steps; returns {term: scalar tensor} of the last step.
    step: The global step (an int).
    cadence: The boundaries.
    checkpoint_manager: Saves at checkpoint boundaries (None: no checkpoints).
    summary_dir: TensorBoard scalars `<prefix><term>` at summary boundaries (None: none).
    extra_summaries: {name: value} written beside the terms (e.g. the learning rate).
    progress_term: The term shown in the progress line (None: the first).
    verbose: Show progress lines.
  """

  def __init__(self, run: Callable, step: Callable[[], int], cadence: Cadence,
               checkpoint_manager=None, summary_dir: Optional[str] = None,
               summary_prefix: str = 'train/', extra_summaries: Optional[dict] = None,
               progress_term: Optional[str] = None, verbose: bool = True):
    self._run, self._step, self.cadence = run, step, cadence
    self._manager = checkpoint_manager
    self._writer = tf.summary.create_file_writer(summary_dir) if summary_dir else None
    self._prefix, self._extra = summary_prefix, dict(extra_summaries or {})
    self._progress_term, self._verbose = progress_term, verbose

  def train(self) -> dict:
    """Trains to num_steps; returns the last terms as floats (empty if nothing was left).

    Raises errors.Interrupted (after saving a checkpoint at the current step) on SIGINT or
    SIGTERM, NonFiniteLossError on a NaN or Inf term.
    """
    step, end = self._step(), self.cadence.num_steps
    progress = progress_lib.Progress(end, verbose=self._verbose)
    values = {}
    with interrupts.StopRequest() as stop:
      while step < end:
        start, target = time.time(), self.cadence.next_stop(step)
        terms = self._run(tf.constant(target - step))
        values = {k: float(v) for k, v in terms.items()}
        previous, step = step, self._step()
        check_finite(step, values)  # before anything is written
        rate = (step - previous) / max(time.time() - start, 1e-9)
        if self._writer is not None and self.cadence.is_summary(step):
          self._summarize(step, values, rate)
        if self._manager is not None and (self.cadence.is_checkpoint(step) or stop.requested):
          checkpointing.save(self._manager, step)
        shown = self._progress_term or next(iter(values), None)
        progress.update(step, **({'loss': values[shown]} if shown else {}), steps_per_s=rate)
        if stop.requested and step < end:
          progress.close()
          self._flush()
          raise stop.error(self._stopped_at(step))
    progress.close()
    self._flush()
    return values

  def _stopped_at(self, step: int) -> str:
    if self._manager is None:
      return f'training stopped at step {step}; this run keeps no checkpoints.'
    return (f'checkpoint saved at step {step} in {self._manager.directory}; run the same '
            'command again to resume from it.')

  def _flush(self):
    if self._writer is not None:
      self._writer.flush()

  def _summarize(self, step, values, rate):
    with self._writer.as_default(step=step):
      for name, value in {**values, **self._extra}.items():
        tf.summary.scalar(f'{self._prefix}{name}', value)
      tf.summary.scalar(f'{self._prefix}steps_per_second', rate)
