"""Planner tests: data-driven cases (cases/*.yaml, built by build.py) and unit tests."""
