"""The SSM Parameter Store rules for names and values. Pure.

Shared by the field types (a ParameterSet's path and keys), the ParameterSet model (the
value size) and the checks across documents (:mod:`reconciler.spec.checks`), which check the
full name ``path/key`` once the path and the key are known.
"""

from __future__ import annotations

import re

SSM_CHARS_RE = re.compile(r"[A-Za-z0-9_.\-/]+")

MAX_VALUE_BYTES = 4096  # SSM standard tier
MAX_NAME_LENGTH = 1011  # SSM: full parameter name
MAX_LEVELS = 15  # SSM: hierarchy depth


def ssm_disallowed(text: str) -> str:
    """The characters of ``text`` SSM does not allow in names, sorted, once each."""
    return "".join(sorted({c for c in text if not SSM_CHARS_RE.fullmatch(c)}))


def ssm_path_problem(path: str) -> str | None:
    """Why ``path`` is not a valid SSM hierarchy path (or full name), or None."""
    if not path.startswith("/"):
        return f"'{path}' must start with '/'"
    if path == "/":
        return "'/' is not a usable path; name at least one level, e.g. /myapp/dev"
    if path.endswith("/"):
        return f"'{path}' must not end with '/'"
    if "//" in path:
        return f"'{path}' has an empty level ('//')"
    if not SSM_CHARS_RE.fullmatch(path):
        return f"'{path}' has characters SSM does not allow ({ssm_disallowed(path)!r}); allowed are a-z A-Z 0-9 _ . - /"
    first = path.split("/")[1].lower()
    if first.startswith(("aws", "ssm")):
        return f"'{path}': SSM names must not begin with 'aws' or 'ssm' (case-insensitive; reserved by AWS)"
    return None


def ssm_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid full SSM parameter name, or None."""
    problem = ssm_path_problem(name)
    if problem:
        return problem
    levels = len(name.strip("/").split("/"))
    if levels > MAX_LEVELS:
        return f"'{name}' has {levels} levels; SSM allows at most {MAX_LEVELS}"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is {len(name)} characters long; SSM allows at most {MAX_NAME_LENGTH}"
    return None
