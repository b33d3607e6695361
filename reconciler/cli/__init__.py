"""Command line: validate | plan | apply | status ENV_DIR, the GitOps commands (run, history,
suspend, resume, unpin, rollback) and sandbox up|down|status.

A thin layer: :mod:`.arguments` parses (``--sandbox`` stands for the sandbox's
ordinary world overrides), :mod:`.commands` runs the command through the
composition root and maps its outcome to an exit code (Terraform's: 0 no changes,
1 error, 2 changes with --detailed-exitcode), :mod:`.output` writes. Every
ReconcilerError becomes a clear message on stderr and exit 1, never a stack trace.

Starts fast: only the standard library is imported until the arguments are
parsed, so ``--help`` and usage errors never load the application (pydantic,
boto3, docker, rich...); each command then imports what it uses. Output is
written as whole strings, styled (ANSI) only on a terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from reconciler.cli.arguments import parser
from reconciler.cli.output import Err
from reconciler.core.exitcodes import EXIT_ERROR

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from reconciler.core.errors import ReconcilerError  # the application is imported once the arguments are read

    color = sys.stdout.isatty() and not getattr(args, "no_color", False) and "NO_COLOR" not in os.environ
    err = Err(color)
    try:
        from reconciler.cli.commands import run

        return run(args, err, color)
    except ReconcilerError as e:
        err.error(str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.say("Interrupted.")
        return EXIT_ERROR
