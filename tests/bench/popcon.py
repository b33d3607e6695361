"""The pop-con dev stack (environments/dev) as both sides of the apply benchmark see it.

Both sides get the same compose file, the same images and the same parameter
values, each under its own Compose project, frontend port and SSM path so the
two never share a container or a parameter:

* reconciler: a copy of environments/dev with its name, SSM prefix, ownership,
  Compose project, endpoints and port changed (YAML round-trip edits, comments kept);
* deploy.sh: a folder holding the same docker-compose.yml with each ``image:``
  the full reference the reconciler would resolve (registry/repository:tag),
  as pop-con's gitops repository has it.

The edits of a scenario (bump a tag, change a parameter) are here too.
"""

from __future__ import annotations

import io
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.bench.measure import REPO_ROOT
from tests.bench.world import free_port

DEV = REPO_ROOT / "environments" / "dev"


def _yaml() -> YAML:
    y = YAML()  # round-trip: comments and order kept
    y.preserve_quotes = True
    y.width = 4096
    return y


def edit(path: Path, change: Callable[[list[Any]], None]) -> None:
    """Load every document of ``path``, let ``change`` edit them in place, write them back."""
    y = _yaml()
    docs = list(y.load_all(path.read_text()))
    change(docs)
    out = io.StringIO()
    y.dump_all(docs, out)
    path.write_text(out.getvalue())


def load(path: Path) -> list[Any]:
    return list(YAML(typ="safe").load_all(path.read_text()))


@dataclass(frozen=True)
class Stack:
    """What environments/dev declares, read once."""

    parameters: dict[str, tuple[str, str]]  # name -> (SSM type, value as SSM stores it)
    secrets: tuple[str, ...]  # external SecureStrings (read, never written)
    images: dict[str, tuple[str, str]]  # image key -> (repository, tag)
    service_images: dict[str, str]  # compose service -> image key

    @classmethod
    def read(cls, dev: Path = DEV) -> Stack:
        parameters: dict[str, tuple[str, str]] = {}
        external: list[str] = []
        for doc in load(dev / "parameters.yaml"):
            for name, entry in doc["spec"]["parameters"].items():
                spec = entry if isinstance(entry, dict) else {"value": entry}
                if spec.get("external"):
                    external.append(name)
                    continue
                value = spec["value"]
                text = ",".join(value) if isinstance(value, list) else str(value)
                parameters[name] = (spec.get("type", "String"), text)
        (images_doc,) = load(dev / "images.yaml")
        images = {k: (v["repository"], str(v["tag"])) for k, v in images_doc["spec"]["images"].items()}
        (stack_doc,) = load(dev / "stack.yaml")
        services = {s: v["image"] for s, v in stack_doc["spec"]["services"].items()}
        return cls(parameters, tuple(external), images, services)


def secret_values(stack: Stack) -> dict[str, str]:
    """Random values for the external secrets (the same on both sides)."""
    return {name: f"bench-{name.lower()}-{secrets.token_hex(6)}" for name in stack.secrets}


def _remap_ports(compose: dict[str, Any]) -> None:
    """Each published host port becomes a free one (the two sides run at once)."""
    for service in compose["services"].values():
        ports = service.get("ports") or []
        for i, entry in enumerate(ports):
            parts = str(entry).split(":")
            if len(parts) >= 2:
                parts[-2] = str(free_port())
                ports[i] = ":".join(parts)


@dataclass(frozen=True)
class ReconcilerEnv:
    root: Path
    name: str  # environment name (also the value of its environment tag)
    prefix: str  # SSM path of its parameters
    ownership: str
    project: str

    def set_tag(self, image: str, tag: str) -> None:
        edit(self.root / "images.yaml", lambda docs: docs[0]["spec"]["images"][image].__setitem__("tag", tag))

    def set_parameter(self, name: str, value: str) -> None:
        def change(docs: list[Any]) -> None:
            for doc in docs:
                params = doc["spec"]["parameters"]
                if name in params:
                    entry = params[name]
                    if isinstance(entry, dict):
                        entry["value"] = value
                    else:
                        params[name] = value

        edit(self.root / "parameters.yaml", change)


def write_reconciler_env(
    root: Path, *, name: str, prefix: str, ownership: str, project: str, moto_url: str, registry: str
) -> ReconcilerEnv:
    shutil.copytree(DEV, root)

    def environment(docs: list[Any]) -> None:
        doc = docs[0]
        doc["metadata"]["name"] = name
        doc["spec"]["aws"]["endpointUrl"] = moto_url
        doc["spec"]["parameterPrefix"] = prefix
        doc["spec"]["registry"]["url"] = registry
        doc["spec"]["ownership"] = ownership

    def parameters(docs: list[Any]) -> None:
        for doc in docs:
            doc["spec"]["path"] = prefix

    edit(root / "environment.yaml", environment)
    edit(root / "parameters.yaml", parameters)
    edit(root / "stack.yaml", lambda docs: docs[0]["spec"].__setitem__("project", project))
    edit(root / "docker-compose.yml", lambda docs: _remap_ports(docs[0]))
    return ReconcilerEnv(root, name, prefix, ownership, project)


@dataclass(frozen=True)
class ScriptDir:
    root: Path  # holds docker-compose.yml; deploy.sh writes .env here
    prefix: str  # SSM path deploy.sh reads
    project: str
    registry: str
    stack: Stack

    def set_tag(self, image: str, tag: str) -> None:
        repository = self.stack.images[image][0]

        def change(docs: list[Any]) -> None:
            for service, key in self.stack.service_images.items():
                if key == image:
                    docs[0]["services"][service]["image"] = f"{self.registry}/{repository}:{tag}"

        edit(self.root / "docker-compose.yml", change)


def write_script_dir(root: Path, *, stack: Stack, prefix: str, project: str, registry: str) -> ScriptDir:
    root.mkdir(parents=True)
    shutil.copy(DEV / "docker-compose.yml", root / "docker-compose.yml")

    def change(docs: list[Any]) -> None:
        compose = docs[0]
        for service, key in stack.service_images.items():
            repository, tag = stack.images[key]
            compose["services"][service]["image"] = f"{registry}/{repository}:{tag}"
        _remap_ports(compose)

    edit(root / "docker-compose.yml", change)
    return ScriptDir(root, prefix, project, registry, stack)
