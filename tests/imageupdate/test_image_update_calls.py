"""image-update over 50 images costs one registry call per repository page, no more (the clients' own call
counters): the sandbox's registry (one tags-list GET each) and moto's ECR (one DescribeImages each)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from drivers.worldkit import aws, uid

from imageupdate.gitenv import clone, git, make_remote
from imageupdate.registrykit import push_tags, put_ecr_tags
from reconciler.app.clients import Clients
from reconciler.app.imageupdate import image_update
from reconciler.app.setimage import CommitOptions
from reconciler.app.settings import Overrides, Settings

pytestmark = pytest.mark.world
N = 50
ECR_ENVIRONMENT = """apiVersion: reconciler.dev/v1alpha1
kind: Environment
metadata: {{name: {name}}}
spec:
  aws: {{region: us-east-1, endpointUrl: "{registry}"}}
  registry: {{type: ecr, accountId: "123456789012"}}
"""


def images(repo: str) -> str:
    entry = '    app{i:02d}: {{repository: {repo}/app{i:02d}, tag: "1.0.0", policy: {{semver: "^1"}}}}'
    lines = [entry.format(i=i, repo=repo) for i in range(N)]
    return "apiVersion: reconciler.dev/v1alpha1\nkind: Images\nmetadata: {name: many}\nspec:\n  images:\n" + (
        "\n".join(lines) + "\n"
    )


def run(tmp: Path, remote: Path) -> tuple[list[str], Clients]:
    a = clone(tmp, remote, "a")
    made: list[Clients] = []

    def connect(settings: Settings) -> Clients:
        made.append(Clients.connect(settings, read_only=True))
        return made[0]

    options = CommitOptions(commit=True, state_dir=a.state)
    lines = image_update(a.env("dev"), Overrides(state_dir=a.state), options, connect=connect)
    assert git(a.path, "log", "-1", "--format=%B").count("Set-Image: app") == N
    assert (a.env("dev") / "images.yaml").read_text().count('tag: "1.2.0"') == N
    return lines, made[0]


def test_fifty_oci_repositories_one_tags_list_each(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = f"test-{uid()}"
    for i in range(N):
        push_tags(sandbox.registry, f"{repo}/app{i:02d}", ["1.0.0", "1.2.0", "2.0.0"])
    remote = make_remote(tmp_path, sandbox.registry, {"dev": images(repo)})
    lines, clients = run(tmp_path, remote)
    assert clients.counters.registry.calls == Counter({("GET", sandbox.registry): N}), lines
    assert clients.counters.aws.calls == Counter()


def test_fifty_ecr_repositories_one_describe_images_each(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = f"test-{uid()}"
    ecr = aws(sandbox.moto_url)
    for i in range(N):
        put_ecr_tags(ecr, f"{repo}/app{i:02d}", ["1.0.0", "1.2.0", "2.0.0"])
    remote = make_remote(tmp_path, sandbox.moto_url, {"dev": images(repo)}, environment=ECR_ENVIRONMENT)
    lines, clients = run(tmp_path, remote)
    assert clients.counters.aws.calls == Counter({("api.ecr", "DescribeImages"): N}), lines
    assert clients.counters.registry.calls == Counter()
