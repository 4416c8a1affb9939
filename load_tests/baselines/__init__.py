"""Baseline servers for the serving benchmark (load_tests/bench.py). Not part of the product."""
