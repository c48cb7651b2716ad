"""Benchmark harness (run on demand): see benchmarks/README.md and `python -m benchmarks.run -h`."""
