"""Copies of an environment folder made unique for one test. Test helper.

Each end-to-end test reconciles its own copy of environments/dev (or prod)
under a fresh parameter prefix, ownership value and Compose project, with the
published ports made ephemeral, so tests never collide with each other or
with `make run`. Edits go through ruamel.yaml so the files stay ordinary specs.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    return y


def documents(path: Path) -> list[Any]:
    return list(_yaml().load_all(path.read_text()))


def write_documents(path: Path, docs: list[Any]) -> None:
    with path.open("w") as fh:
        _yaml().dump_all(docs, fh)


@dataclass
class EnvCopy:
    root: Path
    uid: str
    prefix: str  # parameter prefix, e.g. /e2e-ab12cd34/dev
    owner: str
    project: str
    environment: str

    def spec_files(self) -> Iterator[Path]:
        for p in sorted(self.root.glob("*.y*ml")):
            if "apiVersion" in p.read_text():
                yield p

    def edit(self, kind: str, name: str | None, fn: Callable[[Any], None]) -> None:
        """Apply fn to the spec of every document of this kind (and name)."""
        for path in self.spec_files():
            docs = documents(path)
            touched = False
            for doc in docs:
                if (
                    isinstance(doc, dict)
                    and doc.get("kind") == kind
                    and (name is None or doc["metadata"]["name"] == name)
                ):
                    fn(doc["spec"])
                    touched = True
            if touched:
                write_documents(path, docs)

    def compose_file(self) -> Path:
        found: list[str] = []
        self.edit(
            "ComposeStack",
            None,
            lambda spec: found.append(str(spec.get("composeFile", "docker-compose.yml"))),
        )
        return self.root / found[0]

    def edit_compose(self, fn: Callable[[Any], None]) -> None:
        path = self.compose_file()
        y = _yaml()
        data = y.load(path.read_text())
        fn(data)
        with path.open("w") as fh:
            y.dump(data, fh)


def make_copy(source: Path, dest: Path) -> EnvCopy:
    """Copy source to dest and make every world-facing name unique."""
    shutil.copytree(source, dest)
    uid = uuid.uuid4().hex[:8]
    env = EnvCopy(root=dest, uid=uid, prefix="", owner=f"e2e-{uid}", project=f"e2e-{uid}", environment="")
    old_prefix: list[str] = []

    def env_spec(spec: Any) -> None:
        old_prefix.append(str(spec["parameterPrefix"]))
        spec["parameterPrefix"] = f"/e2e-{uid}{spec['parameterPrefix']}"
        spec["ownership"] = env.owner

    env.edit("Environment", None, env_spec)
    env.prefix = f"/e2e-{uid}{old_prefix[0]}"

    def set_spec(spec: Any) -> None:
        spec["path"] = f"/e2e-{uid}{spec['path']}"

    env.edit("ParameterSet", None, set_spec)
    env.edit("ComposeStack", None, lambda spec: spec.__setitem__("project", env.project))
    for path in env.spec_files():
        for doc in documents(path):
            if isinstance(doc, dict) and doc.get("kind") == "Environment":
                env.environment = str(doc["metadata"]["name"])

    def ephemeral_ports(data: Any) -> None:
        for svc in data["services"].values():
            ports = svc.get("ports") or []
            for i, port in enumerate(ports):
                container = str(port).rsplit(":", 1)[-1]
                ports[i] = f"127.0.0.1::{container}"

    env.edit_compose(ephemeral_ports)
    return env
