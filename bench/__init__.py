"""Benchmarks run by hand (`python -m bench.run_all`); never part of the test suite."""
