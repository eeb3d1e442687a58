"""Dagster definitions, one folder per source or role (assets.py, resources.py, checks.py, schedules.py)."""
