"""Command line: validate | plan | apply | status ENV_DIR, and sandbox up|down|status.

Thin layer over reconciler.app.environment (and reconciler.sandbox: ``sandbox
up|down|status``, and ``--sandbox``, which stands for the sandbox's ordinary world
overrides): parses arguments, prints, maps outcomes to exit codes (Terraform's: 0
no changes, 1 error, 2 changes with --detailed-exitcode). Every ReconcilerError
becomes a clear message on stderr and exit 1, never a stack trace.

Starts fast: only the standard library is imported until the arguments are
parsed, so ``--help`` and usage errors never load the application (pydantic,
boto3, docker, rich...); each command then imports what it uses. Output is
written as whole strings, styled (ANSI) only on a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from reconciler.core.exitcodes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from reconciler import app
    from reconciler.core.events import Event
    from reconciler.core.plan import Plan


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means "changes present", so errors exit 1."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="reconciler",
        description="GitOps reconciler for Docker Compose stacks on AWS (SSM, ECR) and Docker.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def env_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_, description=help_)
        c.add_argument("env_dir", metavar="ENV_DIR", type=Path, help="environment folder, e.g. environments/dev")
        return c

    def world_opts(c: argparse.ArgumentParser) -> None:
        c.add_argument(
            "--sandbox",
            action="store_true",
            default=os.environ.get("RECONCILER_SANDBOX", "") not in ("", "0", "false"),
            help="point the environment at the embedded sandbox (moto, local registry, local Docker): "
            "--aws-endpoint-url, --docker-engine and --registry with the sandbox's addresses, the flags "
            "given explicitly winning; also RECONCILER_SANDBOX=1",
        )
        c.add_argument(
            "--aws-endpoint-url",
            default=os.environ.get("RECONCILER_AWS_ENDPOINT_URL"),
            help="override the AWS endpoint (also RECONCILER_AWS_ENDPOINT_URL)",
        )
        c.add_argument(
            "--docker-host",
            action="append",
            default=[h for h in [os.environ.get("RECONCILER_DOCKER_HOST")] if h],
            metavar="[HOST=]URL",
            help="override the Docker engine of every host (URL) or of one host (HOST=URL, repeatable); "
            "also RECONCILER_DOCKER_HOST",
        )
        c.add_argument(
            "--docker-engine",
            action="append",
            default=[],
            metavar="URL",
            help="Docker engines for the hosts in the order the environment declares them, the first for "
            "the first host (repeatable; a host given by --docker-host HOST=URL keeps that URL); unix://, "
            "tcp:// or ssh://",
        )
        c.add_argument(
            "--registry",
            default=None,
            metavar="URL",
            help="pull every image from this OCI registry instead of the specs' registries (a mirror, a "
            "local registry): HOST[:PORT] or https://HOST[:PORT] (TLS), http://HOST[:PORT] (plain HTTP)",
        )
        c.add_argument("--state-dir", type=Path, default=None, help="private working folder (default: XDG state)")
        c.add_argument("--no-color", action="store_true", help="plain output even on a terminal")

    env_cmd("validate", "check the environment's specs without touching AWS or Docker")

    plan = env_cmd("plan", "show what apply would change (read-only)")
    world_opts(plan)
    plan.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 2 changes, 1 error")
    plan.add_argument("--verbose", "-v", action="store_true", help="also list unchanged resources and why")

    apply = env_cmd("apply", "plan, ask, plan again and apply")
    world_opts(apply)
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--lock-timeout",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="wait this long (e.g. 30s, 5m) for another run holding the environment's lock; default: refuse at once",
    )
    apply.add_argument("--verbose", "-v", action="store_true", help="also list unchanged resources and why")

    status = env_cmd("status", "show what runs, whether it matches the specs, and the loop's conditions")
    world_opts(status)
    status.add_argument(
        "--format", choices=("text", "json"), default="text", help="json: the loop's recorded status (conditions...)"
    )

    history = env_cmd("history", "what the loop and apply did: revision, when, by whom, result, why")
    world_opts(history)
    history.add_argument("--limit", type=int, default=20, help="how many entries, newest first (default 20)")
    history.add_argument("--format", choices=("text", "json"), default="text")

    for name, help_ in (
        ("suspend", "the loop keeps observing and reporting, and acts on nothing"),
        ("resume", "the loop acts again"),
        ("unpin", "the loop returns to the head of its branch"),
    ):
        world_opts(env_cmd(name, help_))

    rollback = env_cmd(
        "rollback", "go back to an earlier revision: a commit restoring the folder (the loop applies it) or a pin"
    )
    world_opts(rollback)
    how = rollback.add_mutually_exclusive_group(required=True)
    how.add_argument("--to", metavar="REV", help="write a commit on the branch restoring ENV_DIR to its content at REV")
    how.add_argument("--pin", metavar="REV", help="when git cannot be written: the loop applies REV until unpin")
    rollback.add_argument("--push", action="store_true", help="push the rollback commit to origin (--to)")
    rollback.add_argument("--branch", default=None, help="the branch to commit on (default: the one checked out)")
    rollback.add_argument("--message", "-m", default=None, help="why (added to the commit message)")

    run = sub.add_parser(
        "run",
        help="the GitOps loop: make the world match a git branch, continuously",
        description="The GitOps loop: every tick fetch the branch, check out the environment folder of its "
        "head commit, plan, apply (or only report with --mode plan), record status and history, then wait "
        "--interval (a push webhook or a local commit starts a tick at once).",
    )
    run.add_argument("--repo", required=True, help="a git URL or the path of a local repository")
    run.add_argument("--branch", default="main", help="default main")
    run.add_argument("--path", default="", help="the environment folder in the repository, e.g. environments/dev")
    run.add_argument("--interval", type=_duration, default=60.0, metavar="DURATION", help="between ticks (60s)")
    run.add_argument("--once", action="store_true", help="one tick, then exit 0 ok, 1 error, 2 plan mode with changes")
    run.add_argument("--mode", choices=("apply", "plan"), default="apply", help="plan: only report (OutOfSync)")
    run.add_argument("--listen", default=None, metavar="HOST:PORT",
                     help="serve POST /webhook (signed GitHub push events), /healthz, /readyz, /metrics; "
                     "e.g. 127.0.0.1:9090")  # fmt: skip
    run.add_argument("--webhook-secret-env", default="RECONCILER_WEBHOOK_SECRET", metavar="NAME",
                     help="the environment variable holding the webhook's HMAC secret")  # fmt: skip
    world_opts(run)

    sb = sub.add_parser("sandbox", help="the embedded sandbox: moto, a local registry, Docker")
    sb.add_argument("action", choices=("up", "down", "status"))
    sb.add_argument("--state-dir", type=Path, default=None, help="sandbox folder (default: .sandbox)")
    return p


def _duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h`` -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    raw = text.strip().lower()
    factor = units.get(raw[-1:], 1.0) if raw else 1.0
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        value = float(number) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 30, 30s, 5m)") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 30, 30s, 5m)")
    return value


def _overrides(args: argparse.Namespace) -> app.Overrides:
    """The world overrides given on the command line; with --sandbox, on top of the sandbox's."""
    from reconciler.app.settings import Overrides

    if getattr(args, "sandbox", False):
        from reconciler.sandbox import layout  # computed addresses, no I/O

        base = layout.overrides()
    else:
        base = Overrides()
    engines = tuple(getattr(args, "docker_engine", None) or ())
    return Overrides(
        aws_endpoint_url=getattr(args, "aws_endpoint_url", None) or base.aws_endpoint_url,
        docker_hosts=tuple(getattr(args, "docker_host", None) or ()) or base.docker_hosts,
        docker_engines=engines or base.docker_engines,
        engines_from="--docker-engine" if engines else base.engines_from,
        registry=getattr(args, "registry", None) or base.registry,
        state_dir=getattr(args, "state_dir", None) or base.state_dir,
    )


def _sandbox(action: str, state_dir: Path | None, err: _Err) -> int:
    """``reconciler sandbox up|down|status``."""
    from reconciler.sandbox import layout, lifecycle

    folder = state_dir or layout.default_state_dir()
    if action == "up":
        err.say(lifecycle.ready_line(lifecycle.up(folder, on_event=err.say)))
    elif action == "down":
        lifecycle.down(folder, on_event=err.say)
    else:
        for line in lifecycle.status_lines(lifecycle.status(folder)):
            err.say(line)
    return EXIT_OK


class _Err:
    """stderr: whole lines, cleaned of cursor-moving control codes; ``Error:`` in bold red on a terminal."""

    def __init__(self, color: bool) -> None:
        self.color = color and sys.stderr.isatty()

    def say(self, message: str) -> None:
        from reconciler.render.style import clean

        sys.stderr.write(clean(message) + "\n")
        sys.stderr.flush()

    def error(self, message: str) -> None:
        from reconciler.render.style import RESET, clean, sgr

        label = f"{sgr('bold red')}Error:{RESET}" if self.color else "Error:"
        sys.stderr.write(f"{label} {clean(message)}\n")
        sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from reconciler.core.errors import ReconcilerError  # the application is imported once the arguments are read

    color = sys.stdout.isatty() and not getattr(args, "no_color", False) and "NO_COLOR" not in os.environ
    err = _Err(color)
    try:
        return _run(args, err, color)
    except ReconcilerError as e:
        err.error(str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.say("Interrupted.")
        return EXIT_ERROR


def _run(args: argparse.Namespace, err: _Err, color: bool) -> int:
    if args.command == "sandbox":
        return _sandbox(args.action, args.state_dir, err)
    from reconciler import app, render

    def on_event(event: Event) -> None:
        line = render.event_line(event)
        if line is not None:
            err.say(line)

    if args.command == "validate":
        from reconciler.render.style import clean

        _write(clean(app.validate(args.env_dir)))
        return EXIT_OK
    if args.command in _GITOPS:
        return _gitops(args, err, on_event)

    read_only = args.command != "apply"
    ctx = app.open_environment(args.env_dir, _overrides(args), read_only=read_only, on_event=on_event)
    try:
        if args.command == "plan":
            result = ctx.plan()
            pretty = sys.stdout.isatty()  # JSON indented for a person, compact (fast) for a pipe
            _write(render.render_plan(result.plan, args.format, color=color, verbose=args.verbose, pretty_json=pretty))
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
                _write(commands.loop_status(args.env_dir, _overrides(args), "json"))
                return EXIT_OK
            _write(ctx.status(color=color) + "\n" + commands.loop_status(args.env_dir, _overrides(args), "text"))
            return EXIT_OK
    finally:
        ctx.close()
    raise AssertionError(args.command)


_GITOPS = ("run", "history", "suspend", "resume", "unpin", "rollback")


def _gitops(args: argparse.Namespace, err: _Err, on_event: Callable[[Event], None]) -> int:
    from reconciler.loop import commands

    overrides = _overrides(args)
    if args.command == "history":
        _write(commands.history(args.env_dir, overrides, args.limit, args.format))
    elif args.command in ("suspend", "resume"):
        err.say(commands.suspend(args.env_dir, overrides, args.command == "suspend"))
    elif args.command == "unpin":
        err.say(commands.pin(args.env_dir, overrides, None))
    elif args.command == "rollback" and args.pin:
        err.say(commands.pin(args.env_dir, overrides, args.pin))
    elif args.command == "rollback":
        from reconciler.app.settings import default_state_dir

        state = args.state_dir or default_state_dir()
        err.say(commands.rollback(args.env_dir, args.to, branch=args.branch, push=args.push, message=args.message,
                                  state_dir=state))  # fmt: skip
    else:
        return _loop(args, err, on_event)
    return EXIT_OK


def _loop(args: argparse.Namespace, err: _Err, on_event: Callable[[Event], None]) -> int:
    from reconciler import loop
    from reconciler.app.settings import default_state_dir

    options = loop.LoopOptions(repo=args.repo, branch=args.branch, path=args.path, mode=args.mode,
                               interval=args.interval, overrides=_overrides(args))  # fmt: skip
    serve = loop.ServeOptions(listen=args.listen, secret_env=args.webhook_secret_env)
    state = args.state_dir or default_state_dir()
    return loop.run(options, serve, state_dir=state, once=args.once, say=err.say, on_event=on_event)


def _write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _apply(ctx: app.EnvironmentContext, args: argparse.Namespace, err: _Err, color: bool) -> int:
    """Plan, ask, re-check, apply (reconciler.app.reconcile). Problems block only what they concern
    (a stack whose image is missing, a host that cannot be reached): the rest is applied, then exit 1."""
    import time

    from reconciler import render
    from reconciler.app import reconcile
    from reconciler.core.errors import ReconcilerError

    def show(plan: Plan, fresh: bool) -> None:
        if fresh:
            err.say("The world changed since the plan was shown; the fresh plan:")
        _write(render.render_plan(plan, "text", color=color, verbose=args.verbose and not fresh))
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
        _write(render.render_report(outcome.report, color=color))
    return outcome.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
