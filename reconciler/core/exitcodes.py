"""Exit codes, Terraform's: 0 success / no changes, 1 error, 2 changes present (``--detailed-exitcode``).

A module of its own so that the command line can use them before importing anything else.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
