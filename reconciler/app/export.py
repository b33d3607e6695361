"""``reconciler export ENV_DIR --to kubernetes``: the environment read and its images resolved, for the
pure exporter (:mod:`reconciler.export`). Does I/O (read-only).

Loads the specs (no secret value is needed: none is exported), resolves every image tag to its
digest through read-only registry clients (the manifests pin images by digest), reads each
fleet's Auto Scaling group for its instance count unless ``replicas`` says it (read-only), and
finds where the output folder lives in git for the Argo CD Application (the folder's repository
and its ``origin``, unless given). Nothing is written to AWS, registries or Docker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.app.environment import _resolve
from reconciler.app.settings import Overrides
from reconciler.core.errors import ReconcilerError, SpecError, SpecIssue
from reconciler.core.model import DesiredState
from reconciler.export import ExportInput, GitTarget, Manifests, export_manifests
from reconciler.export.model import DEFAULT_VOLUME_SIZE, DEFAULT_WAIT_IMAGE
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import LoadedEnvironment, load_environment

__all__ = ["ExportOptions", "export_environment", "export_input"]


@dataclass(frozen=True)
class ExportOptions:
    out_dir: Path
    replicas: int | None = None  # instances of every fleet (None: read from its Auto Scaling group)
    repo_url: str | None = None  # None: the origin of the repository holding out_dir
    repo_path: str | None = None  # None: out_dir inside that repository
    revision: str = "HEAD"
    wait_image: str = DEFAULT_WAIT_IMAGE
    volume_size: str = DEFAULT_VOLUME_SIZE


def _sources(loaded: LoadedEnvironment) -> dict[tuple[str, str], str]:
    return {
        (stack, name): f"{service.display or model.display}:{service.line}"
        for stack, model in loaded.compose.items()
        for name, service in model.services.items()
    }


def _git(options: ExportOptions) -> GitTarget:
    if options.repo_url is not None and options.repo_path is not None:
        return GitTarget(options.repo_url, options.repo_path, options.revision)
    from reconciler.drivers.git.local import local_repository

    folder = options.out_dir.resolve()
    probe = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    try:
        repo = local_repository(probe)
    except ReconcilerError:
        raise ReconcilerError(
            f"{options.out_dir} is not inside a git repository: give --repo URL and --repo-path PATH "
            "(where Argo CD finds the manifests)"
        ) from None
    url = options.repo_url or repo.origin
    if url is None:
        raise ReconcilerError(f"the repository {repo.top} has no origin remote: give --repo URL")
    if options.repo_path is not None:
        return GitTarget(url, options.repo_path, options.revision)
    if not folder.is_relative_to(repo.top):
        raise ReconcilerError(f"{options.out_dir} is outside the repository {repo.top}: give --repo-path PATH")
    path = folder.relative_to(repo.top).as_posix()
    return GitTarget(url, path, options.revision)


def _images(desired: DesiredState, digests: Mapping[str, str]) -> dict[tuple[str, str], str]:
    images: dict[tuple[str, str], str] = {}
    missing: list[SpecIssue] = []
    for stack in desired.stacks:
        for service in stack.services:
            ref = service.image
            if ref is None:
                images[(stack.name, service.name)] = str(json.loads(service.definition).get("image", ""))
            elif ref.key in digests:
                images[(stack.name, service.name)] = ref.pinned(digests[ref.key])
            else:
                missing.append(SpecIssue("", None, f"images.{ref.name}", f"image {ref.key} not found in its registry"))
    if missing:
        raise SpecError(list(dict.fromkeys(missing)))
    return images


def export_input(
    loaded: LoadedEnvironment,
    desired: DesiredState,
    digests: Mapping[str, str],
    replicas: Mapping[str, int],
    git: GitTarget,
    options: ExportOptions,
    region: str | None,
) -> ExportInput:
    """What the exporter reads, from what was loaded and resolved (no I/O; raises SpecError naming
    an image whose tag was not found)."""
    return ExportInput(
        desired=desired,
        region=region,
        git=git,
        images=_images(desired, digests),
        sources=_sources(loaded),
        replicas=dict(replicas),
        wait_image=options.wait_image,
        volume_size=options.volume_size,
    )


def export_environment(env_dir: Path, overrides: Overrides, options: ExportOptions) -> Manifests:
    """The Kubernetes manifests of the environment in ``env_dir`` (read-only; raises SpecError or
    ReconcilerError)."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, lambda _name: "(not exported)")
    desired, settings = _resolve(loaded, desired, overrides)
    git = _git(options)
    from reconciler.app.world import World
    from reconciler.observe.images import resolve_digests

    world = World.connect(settings, read_only=True)
    try:
        digests = resolve_digests(list(desired.images), world.clients.resolver_for)
        replicas = {fleet.name: options.replicas for fleet in desired.fleets if options.replicas is not None}
        if desired.fleets and options.replicas is None:
            for name, seen in world.observe_fleets(desired).items():
                if seen.error is not None:
                    raise ReconcilerError(f"fleet {name}: {seen.error} (or give --replicas N)")
                replicas[name] = seen.desired_capacity
    finally:
        world.close()
    return export_manifests(export_input(loaded, desired, digests, replicas, git, options, settings.region))
