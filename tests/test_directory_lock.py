"""The directory lock under contention: many processes start at once, exactly one holds it."""

import multiprocessing
import os

from poem_cvmim.core import run_dirs

_PROCESSES = 8
_ROUNDS = 200


def _contend(directory, barrier, held, rounds):
  for round_number in range(rounds):
    barrier.wait()  # every process tries at the same moment
    lock = run_dirs.DirectoryLock(directory)
    try:
      lock.acquire()
    except run_dirs.DirectoryLockedError:
      lock = None
    if lock is not None:
      with held.get_lock():
        held[round_number] += 1
    barrier.wait()  # everyone has tried while the winner still holds it
    if lock is not None:
      lock.release()


def test_exactly_one_of_eight_processes_holds_the_lock_in_each_of_200_rounds(tmp_path):
  directory = str(tmp_path / 'run')
  context = multiprocessing.get_context('fork')
  barrier = context.Barrier(_PROCESSES, timeout=60)
  held = context.Array('i', _ROUNDS)
  workers = [context.Process(target=_contend, args=(directory, barrier, held, _ROUNDS))
             for _ in range(_PROCESSES)]
  for worker in workers:
    worker.start()
  for worker in workers:
    worker.join(120)
  assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
  counts = list(held)
  assert counts == [1] * _ROUNDS, {i: c for i, c in enumerate(counts) if c != 1}
  assert not os.path.exists(os.path.join(directory, run_dirs.LOCK_NAME))


def test_a_lock_file_left_by_a_dead_process_is_free(tmp_path):
  """A file that names a process but is not locked (its holder died) does not block."""
  directory = tmp_path / 'run'
  directory.mkdir()
  (directory / run_dirs.LOCK_NAME).write_text('{"pid": 999999999, "host": "elsewhere"}')
  with run_dirs.DirectoryLock(str(directory)):
    pass
  empty = tmp_path / 'empty'
  empty.mkdir()
  (empty / run_dirs.LOCK_NAME).write_text('')  # a holder killed before it wrote its name
  with run_dirs.DirectoryLock(str(empty)):
    pass


def test_the_second_holder_in_one_process_is_refused_by_name(tmp_path):
  with run_dirs.DirectoryLock(str(tmp_path)):
    try:
      run_dirs.DirectoryLock(str(tmp_path)).acquire()
    except run_dirs.DirectoryLockedError as error:
      assert 'already held by this process' in str(error)
    else:
      raise AssertionError('a second lock on a held directory was granted')


def test_try_acquire_says_whether_the_lock_was_free(tmp_path):
  first = run_dirs.DirectoryLock(str(tmp_path / 'run'), beside=True)
  assert first.try_acquire()
  second = run_dirs.DirectoryLock(str(tmp_path / 'run'), beside=True)
  assert not second.try_acquire()
  first.release()
  assert second.try_acquire()
  second.release()
