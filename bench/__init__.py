"""Benchmarks (not tests): run each as `python -m bench.<name> --help`; results go to docs/performance.md."""
