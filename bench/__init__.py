"""Benchmarks. Each prints a ratio against a baseline measured in the same run, never a
bare wall-clock number to compare across machines. Run them all with `make bench`."""
