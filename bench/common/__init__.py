"""Shared benchmark helpers (benchlib), statistics of runs in rounds (roundstats) and the field
report's model suite (suite).

Scripts put this folder on sys.path and `import benchlib, roundstats, suite`.
"""
