"""The benchmark's bare reference runs and reports a positive rate (no timing asserted)."""

from poem_cvmim.representation import benchmarking


def test_bare_reference_step_runs():
  rate = benchmarking.steps_per_second(benchmarking.bare_reference(8), 8, steps=2, warmup=1)
  assert rate > 0.0
