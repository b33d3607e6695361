"""The command line's arguments: the parser, durations, and the world overrides they give.

Standard library only (``--help`` and usage errors never load the application). With
``--sandbox`` the overrides start from the sandbox's computed addresses
(:mod:`reconciler.sandbox.layout`, no I/O) and the flags given explicitly win.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from reconciler.core.exitcodes import EXIT_ERROR

if TYPE_CHECKING:
    from reconciler.app.settings import Overrides

__all__ = ["Parser", "duration", "overrides", "parser"]


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means "changes present", so errors exit 1."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = Parser(
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
            "--aws-endpoint-url, --docker-engine, --registry and --fleet-docker with the sandbox's addresses, "
            "the flags given explicitly winning; also RECONCILER_SANDBOX=1",
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
            "--fleet-docker",
            default=None,
            metavar="TEMPLATE",
            help="reach every fleet's instances (hosts fromAutoScalingGroup) at this Docker URL template "
            "instead of the specs', e.g. ssh://root@{privateIp}",
        )
        c.add_argument(
            "--registry",
            default=None,
            metavar="URL",
            help="pull every image from this OCI registry instead of the specs' registries (a mirror, a "
            "local registry): HOST[:PORT] or https://HOST[:PORT] (TLS), http://HOST[:PORT] (plain HTTP)",
        )
        state_dir_opt(c)
        c.add_argument("--no-color", action="store_true", help="plain output even on a terminal")

    def state_dir_opt(c: argparse.ArgumentParser) -> None:
        c.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="private working folder (default: RECONCILER_STATE_DIR, else $XDG_STATE_HOME/reconciler)",
        )

    validate = env_cmd("validate", "check the environment's specs without touching AWS or Docker")
    state_dir_opt(validate)  # the cache of the Compose checks that passed

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
        type=duration,
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
        "rollback",
        "go back to an earlier revision: a commit restoring the folder and the files it reads (the loop applies it) "
        "or a pin",
    )
    world_opts(rollback)
    how = rollback.add_mutually_exclusive_group(required=True)
    how.add_argument("--to", metavar="REV",
                     help="write a commit on the branch restoring ENV_DIR to its content at REV, with the files "
                     "outside it that it read at REV (included or extended compose files)")  # fmt: skip
    how.add_argument("--pin", metavar="REV", help="when git cannot be written: the loop applies REV until unpin")
    rollback.add_argument("--push", action="store_true", help="push the rollback commit to origin (--to)")
    rollback.add_argument("--branch", default=None, help="the branch to commit on (default: the one checked out)")
    rollback.add_argument("--message", "-m", default=None, help="why (added to the commit message)")
    rollback.add_argument("--folder-only", action="store_true",
                          help="restore ENV_DIR alone; files outside it (other environments may read them) stay as "
                          "at the branch head (--to)")  # fmt: skip

    def commit_opts(c: argparse.ArgumentParser, push_help: str) -> None:
        c.add_argument("--commit", action="store_true",
                       help="commit it on the branch checked out (refused with uncommitted changes)")  # fmt: skip
        c.add_argument("--push", action="store_true", help=push_help)
        c.add_argument("--branch", metavar="NAME", default=None,
                       help="push the commit to this new branch of origin (for a pull request) instead")  # fmt: skip
        c.add_argument("--message", "-m", metavar="MSG", default=None, help="why (added to the commit message)")

    set_image = env_cmd(
        "set-image",
        "set an image's tag in the Images document (only the tag changes in the file), after checking the "
        "registry has it; with --commit or --push, as one commit with a Set-Image trailer",
    )
    set_image.add_argument("image", metavar="IMAGE", help="the Images entry, e.g. backend")
    set_image.add_argument("tag", metavar="TAG", help="the tag to run, e.g. 2.3.0")
    world_opts(set_image)
    commit_opts(set_image, "commit on origin's branch and push it (fast-forward only, never forced)")

    promote = sub.add_parser(
        "promote",
        help="give DST_ENV the tags SRC_ENV's Images documents name: one commit with DST_ENV's plan in its body",
        description="Give the destination the tags the source's Images documents name (dev -> prod), after "
        "checking the destination's registry has them; one commit whose body holds the destination's "
        "read-only plan with them. Without --commit or --push the files are only edited.",
    )
    promote.add_argument("src_dir", metavar="SRC_ENV", type=Path, help="e.g. environments/dev")
    promote.add_argument("env_dir", metavar="DST_ENV", type=Path, help="e.g. environments/prod")
    promote.add_argument("--images", metavar="A,B", default="", help="only these images (default: all they share)")
    world_opts(promote)
    commit_opts(promote, "commit on origin's branch and push it (fast-forward only, never forced)")

    update = env_cmd(
        "image-update",
        "for each Images entry with a policy, commit the newest tag the policy allows (never older, never over "
        "a rollback commit or a pin); one commit on the branch checked out, or pushed with --push",
    )
    world_opts(update)
    update.add_argument("--push", action="store_true",
                        help="commit on origin's branch and push it (fast-forward only: rebuilt once if another "
                        "updater pushed first, never forced)")  # fmt: skip
    update.add_argument("--branch", metavar="NAME", default=None,
                        help="push the commit to this new branch of origin (for a pull request) instead")  # fmt: skip
    update.add_argument("--message", "-m", metavar="MSG", default=None, help="added to the commit message")
    update.add_argument("--dry-run", action="store_true", help="say what each policy picks; write nothing")

    comment = sub.add_parser(
        "comment",
        help="plan each environment a pull request changes and post the plan as a comment on it (read-only)",
        description="Plan each environment (read-only, as `plan`) and post the Markdown plan on the pull "
        "request: one comment per environment, found again by a hidden marker and edited in place on the next "
        "push (no call when it is the same). The whole plans are printed on stdout first, whatever GitHub "
        "answers. In GitHub Actions the repository, pull request, head commit and API URL come from the "
        "workflow's environment; the token from GITHUB_TOKEN. Exit 0, 1 error or problems, 2 changes "
        "(--detailed-exitcode).",
    )
    comment.add_argument("env_dirs", nargs="+", metavar="ENV_DIR", type=Path,
                         help="environment folders, e.g. environments/*/ (candidates of --changed-since)")  # fmt: skip
    world_opts(comment)
    comment.add_argument("--changed-since", metavar="REV", default=None,
                         help="only the environments whose files (folder, compose files, included files) changed "
                         "between the merge base of REV and HEAD, e.g. origin/main")  # fmt: skip
    comment.add_argument("--repository", metavar="OWNER/NAME", default=None, help="default: GITHUB_REPOSITORY")
    comment.add_argument("--pull-request", type=int, metavar="N", default=None,
                         help="default: the pull request of the workflow's event (GITHUB_EVENT_PATH)")  # fmt: skip
    comment.add_argument("--head-sha", metavar="SHA", default=None,
                         help="the commit the comment names; default: the event's head commit, else HEAD")  # fmt: skip
    comment.add_argument("--github-api-url", metavar="URL", default=None,
                         help="GitHub Enterprise Server: https://HOST/api/v3; default: GITHUB_API_URL, else "
                         "https://api.github.com")  # fmt: skip
    comment.add_argument("--token-env", metavar="NAME", default="GITHUB_TOKEN",
                         help="the environment variable holding the token (default GITHUB_TOKEN)")  # fmt: skip
    comment.add_argument("--artifact-url", metavar="TEXT", default=None,
                         help="where a comment cut for size says the whole plan is (default: the run)")  # fmt: skip
    comment.add_argument("--out", type=Path, metavar="DIR", default=None,
                         help="also write each plan as DIR/<folder>.json and .md (an artifact)")  # fmt: skip
    comment.add_argument("--dry-run", action="store_true", help="print the comments instead of posting them")
    comment.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 2 changes, 1 error")

    export = env_cmd(
        "export",
        "write the environment as Kubernetes manifests (Deployments, Services, ConfigMaps, ExternalSecrets, "
        "a kustomization and an Argo CD Application); read-only",
    )
    export.add_argument("--to", choices=("kubernetes",), required=True, help="the target (kubernetes)")
    export.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="the folder the manifests are written to")
    world_opts(export)
    export.add_argument("--replicas", type=int, default=None, metavar="N",
                        help="instances of each fleet (default: its Auto Scaling group's capacity)")  # fmt: skip
    export.add_argument("--repo", dest="repo_url", default=None, metavar="URL",
                        help="the git repository Argo CD reads (default: OUT_DIR's repository's origin)")  # fmt: skip
    export.add_argument("--repo-path", default=None, metavar="PATH",
                        help="OUT_DIR's path in that repository (default: computed from the checkout)")  # fmt: skip
    export.add_argument("--revision", default="HEAD", help="the revision Argo CD follows (default HEAD)")
    export.add_argument("--wait-image", default=None, metavar="IMAGE",
                        help="the image of the init containers that wait for a dependency (needs sh and "
                        "nslookup; default busybox:1.36.1, best pinned by digest)")  # fmt: skip
    export.add_argument("--partial", action="store_true",
                        help="write the manifests even when something cannot be translated (it is listed in "
                        "EXPORT-REPORT.md, and the exit code is still 1)")  # fmt: skip

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
    run.add_argument("--interval", type=duration, default=60.0, metavar="DURATION", help="between ticks (60s)")
    run.add_argument("--once", action="store_true", help="one tick, then exit 0 ok, 1 error, 2 plan mode with changes")
    run.add_argument("--mode", choices=("apply", "plan"), default="apply", help="plan: only report (OutOfSync)")
    run.add_argument("--image-update", action="store_true",
                     help="before each tick, commit and push the tags the Images policies pick (as image-update "
                     "--push; --repo must accept pushes: a URL or a bare repository)")  # fmt: skip
    run.add_argument("--listen", default=None, metavar="HOST:PORT",
                     help="serve the status page (/, /api/status), POST /webhook (signed GitHub push events), "
                     "/healthz, /readyz, /metrics; e.g. 127.0.0.1:9090")  # fmt: skip
    run.add_argument("--webhook-secret-env", default="RECONCILER_WEBHOOK_SECRET", metavar="NAME",
                     help="the environment variable holding the webhook's HMAC secret")  # fmt: skip
    run.add_argument("--listen-auth", choices=("none", "bearer", "basic"), default="none",
                     help="who may read /, /api/status and /metrics: none (default; loopback only unless "
                     "--listen-insecure), a bearer token, or basic authentication")  # fmt: skip
    run.add_argument("--listen-secret-env", default="RECONCILER_LISTEN_TOKEN", metavar="NAME",
                     help="the environment variable holding the token (bearer) or the password (basic); "
                     "never given on the command line")  # fmt: skip
    run.add_argument("--listen-user", default="reconciler", metavar="NAME",
                     help="basic authentication's user name (default reconciler)")
    run.add_argument("--listen-insecure", action="store_true",
                     help="serve the status page and /metrics on an address other than loopback without "
                     "authentication (refused otherwise)")  # fmt: skip
    run.add_argument("--log-format", choices=("auto", "text", "json"), default="auto",
                     help="text: one line per event; json: one JSON object per event (the typed event's fields); "
                     "auto (default): text on a terminal, json otherwise (journald, a container, a pipe)")  # fmt: skip
    world_opts(run)

    install = sub.add_parser(
        "install",
        help="print (or write) the systemd unit that runs the loop as a service",
        description="The systemd unit of `reconciler run` (Type=notify, a watchdog the loop feeds, restarted "
        "when it hangs). Printed on stdout, or written with --output; then: systemctl daemon-reload && "
        "systemctl enable --now reconciler.",
    )
    install.add_argument("--systemd", action="store_true", required=True, help="a systemd unit (the only form)")
    install.add_argument("--repo", required=True, help="the git URL the loop follows")
    install.add_argument("--branch", default="main", help="default main")
    install.add_argument("--path", default="", help="the environment folder in the repository")
    install.add_argument("--interval", default="60s", type=_duration_text, metavar="DURATION", help="default 60s")
    install.add_argument("--listen", default="127.0.0.1:9090", metavar="HOST:PORT",
                         help="webhooks, /healthz, /readyz, /metrics (default 127.0.0.1:9090; '' for none)")
    install.add_argument("--user", default=None, help="run as this user (in the docker group); default root")
    install.add_argument("--executable", default=None,
                         help="the reconciler command (default: this one, absolute)")  # fmt: skip
    install.add_argument("--state-dir", default="/var/lib/reconciler", help="default /var/lib/reconciler")
    install.add_argument("--environment-file", default="/etc/reconciler/env",
                         help="the secrets' file (mode 0600): webhook secret, notification URLs, fromEnv values")
    install.add_argument("--output", type=Path, default=None,
                         help="write the unit here (/etc/systemd/system/reconciler.service) instead of stdout")

    sb = sub.add_parser("sandbox", help="the embedded sandbox: moto, a local registry, Docker")
    sb.add_argument("action", choices=("up", "down", "status"))
    sb.add_argument("--state-dir", type=Path, default=None, help="sandbox folder (default: .sandbox)")
    sb.add_argument("--format", choices=("text", "json"), default="text",
                    help="status: json prints what runs as one JSON document on stdout")  # fmt: skip
    return p


def _duration_text(text: str) -> str:
    duration(text)  # refused at once when it is no duration
    return text.strip()


def duration(text: str) -> float:
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


def overrides(args: argparse.Namespace) -> Overrides:
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
        fleet_docker=getattr(args, "fleet_docker", None) or base.fleet_docker,
    )
