"""Benchmarks: ``python -m bench`` runs them all against the Go baseline and writes
``bench/report/REPORT.md``; ``pytest bench/`` runs the pytest-benchmark suites alone."""
