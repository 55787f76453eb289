"""Benchmarks of hfstats at the Hub's real size (issue 8); run with ``python benchmarks/run.py``."""
