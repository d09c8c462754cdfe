"""Benchmarks (pytest-benchmark). Not collected by the default run (pytest's testpaths is `tests`):
run with `python -m pytest bench/ --benchmark-only`. Report ratios from one run, never absolute
times from different runs: the machine is shared and noisy."""
