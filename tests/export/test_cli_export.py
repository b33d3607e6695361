"""`reconciler export ENV_DIR --to kubernetes OUT_DIR` as a user runs it (a subprocess), on the
sandbox: images pinned to the digests the registry serves, every manifest valid, what cannot be
translated an error naming file, line and key with nothing written (or, with --partial, written
and listed in EXPORT-REPORT.md, exit 1), a missing tag or repository a clear error, and files of
an earlier export that are no longer produced removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from export.kit import KUBERNETES, REPO
from export.test_untranslatable import _dev_copy
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world

GIT = ("--repo", "https://github.com/acme/popcon-gitops.git", "--repo-path", "kubernetes/dev")
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
))  # fmt: skip


def export(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reconciler.cli", "export", str(folder), "--to", "kubernetes", str(out),
            "--sandbox", *extra]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"}, check=False)  # fmt: skip


def _digest(registry: str, repository: str, tag: str) -> str:
    resp = requests.head(f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES},
                         timeout=10)  # fmt: skip
    resp.raise_for_status()
    return resp.headers["Docker-Content-Digest"]


def test_dev_is_exported_with_the_digests_the_registry_serves(sandbox: SandboxInfo, tmp_path: Path) -> None:
    import kubernetes_validate

    out = tmp_path / "k8s"
    done = export(REPO / "environments" / "dev", out, *GIT)
    assert done.returncode == 0, done.stderr
    assert "wrote 8 file(s)" in done.stdout  # with the migrate job's Job
    assert "note: frontend: published 127.0.0.1:3000:3000" in done.stderr
    docs = [d for p in sorted(out.rglob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in docs
        if d["kind"] == "Deployment"
    }
    for name, tag in (("frontend", "1.5.0"), ("backend", "2.2.0")):
        served = _digest(sandbox.registry, f"popcon/{name}", tag)
        assert images[name] == f"127.0.0.1:5000/popcon/{name}@{served}"
    for doc in docs:
        if doc["kind"] not in ("ExternalSecret", "SecretStore", "Application", "Kustomization"):
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    assert (out / "EXPORT-REPORT.md").read_text().startswith("# Export to Kubernetes")

    (out / "dev-popcon" / "old-service.yaml").write_text((out / "dev-popcon" / "redis.yaml").read_text())
    (out / "README.md").write_text("mine\n")
    again = export(REPO / "environments" / "dev", out, *GIT)
    assert again.returncode == 0, again.stderr
    assert not (out / "dev-popcon" / "old-service.yaml").exists()  # written by an export, no longer produced
    assert (out / "README.md").read_text() == "mine\n"  # not the export's: left alone


def test_untranslatable_parts_are_an_error_and_nothing_is_written(sandbox: SandboxInfo, tmp_path: Path) -> None:
    folder = _dev_copy(tmp_path)
    out = tmp_path / "k8s"
    done = export(folder, out, *GIT)
    assert done.returncode == 1
    assert "have no Kubernetes equivalent; nothing was written" in done.stderr
    assert "docker-compose.yml:" in done.stderr and ": services.agent.privileged: a privileged container" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()

    partial = export(folder, out, *GIT, "--partial")
    assert partial.returncode == 1
    report = (out / "EXPORT-REPORT.md").read_text()
    assert "## Not translated" in report and "services.agent.network_mode: host networking" in report
    assert (out / "dev-popcon" / "agent.yaml").exists() and (out / "kustomization.yaml").exists()


def test_a_missing_tag_or_repository_is_a_clear_error(sandbox: SandboxInfo, tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    shutil.copytree(REPO / "environments" / "dev", folder)
    images = folder / "images.yaml"
    images.write_text(images.read_text().replace('tag: "1.5.0"', 'tag: "9.9.9-missing"'))
    done = export(folder, tmp_path / "out", *GIT)
    assert done.returncode == 1
    assert "images.frontend: image 127.0.0.1:5000/popcon/frontend:9.9.9-missing not found" in done.stderr
    assert not (tmp_path / "out").exists()
    nogit = export(REPO / "environments" / "dev", Path("/tmp") / f"not-in-git-{os.getpid()}")
    assert nogit.returncode == 1 and "give --repo URL and --repo-path PATH" in nogit.stderr
