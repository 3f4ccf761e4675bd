"""Benchmarks with ratio goals: each figure is measured next to its physical floor in the same run
(see bench/run.py and bench/RESULTS.md). Not part of the test suite: `make bench`."""
