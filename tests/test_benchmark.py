"""The benchmark's bare reference runs and reports a positive rate (no timing asserted)."""

from poem_cvmim import benchmark


def test_bare_reference_step_runs():
  rate = benchmark.steps_per_second(benchmark.bare_reference(8), 8, steps=2, warmup=1)
  assert rate > 0.0
