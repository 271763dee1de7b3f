"""Shared benchmark helpers (benchlib) and the field report's model suite (suite).

Scripts put this folder on sys.path and `import benchlib, suite`.
"""
