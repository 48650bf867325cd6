"""The step benchmark: every variant runs, the report has its rows (no timing asserted)."""

import pytest

from poem_cvmim.representation import benchmarking


def test_step_flops_counts_the_default_networks():
  # Encoder 26 -> 1024 -> 4 x 1024 -> 64 and critic 4 x 1024 -> 32, two batches of 256.
  assert benchmarking.step_flops(256) == pytest.approx(26.1e9, rel=0.01)


def test_variants_run_and_are_reported():
  report = benchmarking.interleaved(["reference", "ceiling", "cvmim"], batch_size=4, steps=1,
                                    rounds=2, warmup=1, log=lambda _: None)
  assert all(len(r) == 2 and min(r) > 0 for r in report.rates.values())
  text = benchmarking.format_report(report)
  for line in ("cvmim / reference", "cvmim / matmul ceiling", "reference / matmul ceiling"):
    assert line in text


def test_unknown_variant_is_named():
  with pytest.raises(ValueError, match='gpu_magic'):
    benchmarking.interleaved(['gpu_magic'], 4, 1, 1)


def test_classifier_benchmark_runs_and_is_reported():
  from poem_cvmim.action import benchmarking as classifier_benchmarking
  times = classifier_benchmarking.interleaved(rounds=1, num_steps=3, log=lambda _: None)
  assert all(len(v) == 1 and v[0] > 0 for v in times.values())
  assert 'pooled_run / steady' in classifier_benchmarking.format_report(times, 3)
