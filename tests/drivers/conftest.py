"""Fixtures for the driver/observer tests (defined in worldkit, shared with tests/test_executor.py)."""

from __future__ import annotations

from drivers.worldkit import clients, compose, docker_api, prefix, project, test_image

__all__ = ["clients", "compose", "docker_api", "prefix", "project", "test_image"]
