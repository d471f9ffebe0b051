"""Benchmarks of the archive against its baselines (``python -m bench --help``).

Scripts, not tests: each prints a table and writes ``bench/results/<name>.json`` with the
machine's facts and the versions measured. ``docs/benchmarks.md`` shows the latest figures.
"""
