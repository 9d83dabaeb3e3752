"""Benchmarks (`make bench`): figures for bench/README.md and the README's Performance section."""
