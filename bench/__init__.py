"""Benchmarks (`make bench`): figures for bench/README.md and docs/performance.md."""
