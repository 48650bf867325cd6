"""The benchmarks (step, classifier, NTU converter): every variant runs, the report has its rows
(no timing asserted)."""

import pytest

from data_prep import ntu_benchmark
from data_prep import ntu_skeleton
from poem_cvmim.representation import benchmarking


def test_step_flops_counts_the_default_networks():
  # Encoder 26 -> 1024 -> 4 x 1024 -> 64 and critic 4 x 1024 -> 32, two batches of 256.
  assert benchmarking.step_flops(256) == pytest.approx(26.1e9, rel=0.01)


def test_variants_run_and_are_reported():
  report = benchmarking.interleaved(["reference", "ceiling", "cvmim", "cvmim_no_prior"],
                                    batch_size=4, steps=1, rounds=2, warmup=1, log=lambda _: None)
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


def test_ntu_benchmark_runs_and_is_reported(tmp_path):
  rates = ntu_benchmark.run(str(tmp_path), num_files=3, workers=[1, 2], rounds=1,
                            log=lambda _: None)
  assert set(rates) == {'plain_python_reader', 'our_reader_all_fields', 'our_reader',
                        'convert_1_workers', 'convert_2_workers'}
  assert all(len(values) == 1 and values[0] > 0 for values in rates.values())
  report = ntu_benchmark.format_report(rates, [1, 2])
  assert 'convert_2_workers / convert_1_workers' in report
  assert 'convert_1_workers / plain Python reader' in report


def test_the_reference_reader_reads_like_ours(tmp_path):
  path = ntu_benchmark.write_file(str(tmp_path), 0, seed=1)
  ours, reference = ntu_skeleton.read_skeleton(path), ntu_benchmark.plain_python_skeleton(path)
  assert ntu_benchmark._same_skeleton(ours, reference, slice(None))
  reference.bodies[next(iter(reference.bodies))].joints[0][3, 4] += 1e-9
  assert not ntu_benchmark._same_skeleton(ours, reference, slice(None))


def test_refiner_benchmark_runs_and_is_reported():
  from poem_cvmim.temporal import benchmarking as refiner_benchmarking
  rates = refiner_benchmarking.interleaved(num_frames=50, rounds=2)
  assert all(len(v) == 2 and min(v) > 0 for v in rates.values())
  assert 'frames/s' in refiner_benchmarking.format_report(rates, 50)
