"""The commands behind the command line: each imports what it uses once the arguments are read.

``validate``, ``plan``, ``apply`` and ``status`` open the environment through the
composition root (:mod:`reconciler.app`); the GitOps commands go to
:mod:`reconciler.loop`; ``sandbox up|down|status`` to :mod:`reconciler.sandbox.lifecycle`.
Outcomes become Terraform's exit codes: 0 no changes, 1 error, 2 changes (plan
``--detailed-exitcode``, ``run --once --mode plan``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.cli.arguments import overrides
from reconciler.cli.output import Err, write
from reconciler.core.exitcodes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from reconciler import app
    from reconciler.core.events import Event
    from reconciler.core.plan import Plan

__all__ = ["run"]


def run(args: argparse.Namespace, err: Err, color: bool) -> int:
    if args.command == "sandbox":
        return _sandbox(args.action, args.state_dir, args.format, err)
    from reconciler import app, render

    def on_event(event: Event) -> None:
        line = render.event_line(event)
        if line is not None:
            err.say(line)

    if args.command == "validate":
        from reconciler.render.style import clean

        write(clean(app.validate(args.env_dir, args.state_dir)))
        return EXIT_OK
    if args.command in _GITOPS:
        return _gitops(args, err, on_event)
    if args.command == "install":
        return _install(args, err)
    if args.command == "comment":
        from reconciler.cli.comment import comment

        return comment(args, err, on_event)
    if args.command in ("set-image", "promote", "image-update"):
        from reconciler.cli.images import images_command

        return images_command(args, err)
    if args.command == "export":
        from reconciler.cli.export import export

        return export(args, err)

    read_only = args.command != "apply"
    ctx = app.open_environment(args.env_dir, overrides(args), read_only=read_only, on_event=on_event)
    try:
        if args.command == "plan":
            result = ctx.plan()
            pretty = sys.stdout.isatty()  # JSON indented for a person, compact (fast) for a pipe
            write(render.render_plan(result.plan, args.format, color=color, verbose=args.verbose, pretty_json=pretty))
            if result.plan.problems:
                return EXIT_ERROR
            if args.detailed_exitcode and result.plan.has_changes:
                return EXIT_CHANGES
            return EXIT_OK
        if args.command == "apply":
            return _apply(ctx, args, err, color)
        if args.command == "status":
            from reconciler.loop import commands

            if args.format == "json":
                write(commands.loop_status(args.env_dir, overrides(args), "json"))
                return EXIT_OK
            write(ctx.status(color=color) + "\n" + commands.loop_status(args.env_dir, overrides(args), "text"))
            return EXIT_OK
    finally:
        ctx.close()
    raise AssertionError(args.command)


_GITOPS = ("run", "history", "suspend", "resume", "unpin", "rollback")


def _gitops(args: argparse.Namespace, err: Err, on_event: Callable[[Event], None]) -> int:
    from reconciler.loop import commands

    world = overrides(args)
    if args.command == "history":
        write(commands.history(args.env_dir, world, args.limit, args.format))
    elif args.command in ("suspend", "resume"):
        err.say(commands.suspend(args.env_dir, world, args.command == "suspend"))
    elif args.command == "unpin":
        err.say(commands.pin(args.env_dir, world, None))
    elif args.command == "rollback" and args.pin:
        err.say(commands.pin(args.env_dir, world, args.pin))
    elif args.command == "rollback":
        from reconciler.app.settings import default_state_dir

        state = args.state_dir or default_state_dir()
        err.say(commands.rollback(args.env_dir, args.to, branch=args.branch, push=args.push, message=args.message,
                                  state_dir=state, folder_only=args.folder_only))  # fmt: skip
    else:
        return _loop(args, err, on_event)
    return EXIT_OK


def _loop(args: argparse.Namespace, err: Err, on_event: Callable[[Event], None]) -> int:
    from reconciler import loop
    from reconciler.app.settings import default_state_dir

    options = loop.LoopOptions(repo=args.repo, branch=args.branch, path=args.path, mode=args.mode,
                               interval=args.interval, overrides=overrides(args),
                               image_update=args.image_update)  # fmt: skip
    serve = loop.ServeOptions(listen=args.listen, secret_env=args.webhook_secret_env, auth=args.listen_auth,
                              auth_env=args.listen_secret_env, auth_user=args.listen_user,
                              insecure=args.listen_insecure)  # fmt: skip
    state = args.state_dir or default_state_dir()
    if args.log_format == "json" or (args.log_format == "auto" and not sys.stderr.isatty()):
        import time

        from reconciler.render.jsonlog import event_json, message_json

        def say(line: str) -> None:
            err.say(message_json(line, time.time()))

        def as_json(event: Event) -> None:
            err.say(event_json(event, time.time()))

        return loop.run(options, serve, state_dir=state, once=args.once, say=say, on_event=as_json)
    return loop.run(options, serve, state_dir=state, once=args.once, say=err.say, on_event=on_event)


def _install(args: argparse.Namespace, err: Err) -> int:
    """``reconciler install --systemd``: the unit, printed or written."""
    import shutil

    from reconciler.render.unit import UnitOptions, systemd_unit

    found = args.executable or shutil.which("reconciler")
    executable = (found,) if found else (sys.executable, "-m", "reconciler.cli")
    unit = systemd_unit(UnitOptions(executable=executable, repo=args.repo, branch=args.branch, path=args.path,
                                    interval=args.interval, listen=args.listen or None, user=args.user,
                                    environment_file=args.environment_file, state_dir=args.state_dir))  # fmt: skip
    if args.output is None:
        write(unit)
        return EXIT_OK
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(unit, encoding="utf-8")
    args.output.chmod(0o644)
    err.say(f"wrote {args.output}; then: systemctl daemon-reload && systemctl enable --now {args.output.stem}")
    return EXIT_OK


def _apply(ctx: app.EnvironmentContext, args: argparse.Namespace, err: Err, color: bool) -> int:
    """Plan, ask, re-check, apply (reconciler.app.reconcile). Problems block only what they concern
    (a stack whose image is missing, a host that cannot be reached): the rest is applied, then exit 1."""
    import time

    from reconciler import render
    from reconciler.app import reconcile
    from reconciler.core.errors import ReconcilerError

    def show(plan: Plan, fresh: bool) -> None:
        if fresh:
            err.say("The world changed since the plan was shown; the fresh plan:")
        write(render.render_plan(plan, "text", color=color, verbose=args.verbose and not fresh))
        if plan.has_changes and plan.problems:
            err.say(
                f"{len(plan.problems)} problem(s) block part of the plan (see above); "
                "what they do not block is applied, and the exit code is 1."
            )

    def confirm(plan: Plan, fresh: bool) -> bool:
        if args.auto_approve:
            return True
        if not sys.stdin.isatty():
            raise ReconcilerError("refusing to apply without confirmation: stdin is not a terminal; use --auto-approve")
        answer = input(f"{'Apply the fresh plan?' if fresh else 'Apply these changes?'} Only 'yes' is accepted: ")
        if answer.strip() != "yes":
            err.say("Apply cancelled; nothing was changed.")
            return False
        return True

    command = f"reconciler apply {args.env_dir}"
    started = time.time()

    def record(beat: Any, outcome: reconcile.Outcome) -> None:
        if outcome.report is not None:
            ctx.record_apply(beat.check(), outcome, started, command)

    outcome = reconcile.apply(
        ctx,
        show=show,
        confirm=confirm,
        on_event=ctx.on_event,
        hold=lambda: ctx.lock(command, args.lock_timeout, on_wait=err.say),
        applied=record,
    )
    if outcome.report is not None:
        write(render.render_report(outcome.report, color=color))
    return outcome.exit_code


def _sandbox(action: str, state_dir: Path | None, form: str, err: Err) -> int:
    """``reconciler sandbox up|down|status``."""
    from reconciler.sandbox import layout, lifecycle

    folder = state_dir or layout.default_state_dir()
    if action == "up":
        err.say(lifecycle.ready_line(lifecycle.up(folder, on_event=err.say)))
    elif action == "down":
        lifecycle.down(folder, on_event=err.say)
    elif form == "json":
        import json

        write(json.dumps(lifecycle.status(folder), indent=2) + "\n")
    else:
        for line in lifecycle.status_lines(lifecycle.status(folder)):
            err.say(line)
    return EXIT_OK
