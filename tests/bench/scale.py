from __future__ import annotations


def run(*a: object, **k: object) -> None: ...
