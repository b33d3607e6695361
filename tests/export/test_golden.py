"""environments/dev and environments/prod exported to Kubernetes, byte for byte against
tests/golden/export/<env>/ (images 'resolved' to digests made from their names: pure, no I/O),
and every manifest valid for Kubernetes 1.33 (kubernetes-validate, strict). After an intended
change, ``UPDATE_GOLDEN=1 python -m pytest tests/export/test_golden.py`` rewrites the files and
fails, so that the new goldens are reviewed (``git diff tests/golden/export``)."""

from __future__ import annotations

import os
import shutil

import pytest

from export.kit import REPO, documents, export_folder, validate
from reconciler.export import HEADER

GOLDEN = REPO / "tests" / "golden" / "export"
#: prod's fleet (popcon-prod-asg) stands for 3 instances here
CASES = {"dev": {}, "prod": {"web": 3}}


@pytest.mark.parametrize("env", sorted(CASES))
def test_export_matches_its_golden_files(env: str) -> None:
    manifests, _ = export_folder(REPO / "environments" / env, CASES[env])
    assert not manifests.untranslated, manifests.untranslated
    folder = GOLDEN / env
    notes = "".join(f"{n}\n" for n in manifests.notes)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(folder, ignore_errors=True)
        for rel, text in manifests.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        (folder / "NOTES.txt").write_text(notes)
        pytest.fail(f"rewrote {folder}: review the diff and commit it")
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.yaml"))
    assert written == sorted(manifests.files)
    for rel, text in manifests.files.items():
        assert (folder / rel).read_text() == text, rel
    assert (folder / "NOTES.txt").read_text() == notes


@pytest.mark.parametrize("env", sorted(CASES))
def test_every_manifest_is_valid_kubernetes(env: str) -> None:
    manifests, _ = export_folder(REPO / "environments" / env, CASES[env])
    assert validate(manifests) >= 9  # namespace, config maps, 4 deployments and services, a claim
    assert all(text.startswith(HEADER) for text in manifests.files.values())


def test_prod_fleet_instances_become_replicas_except_where_a_volume_is_claimed() -> None:
    manifests, _ = export_folder(REPO / "environments" / "prod", {"web": 3})
    replicas = {
        d["metadata"]["name"]: d["spec"]["replicas"]  # type: ignore[index]
        for d in documents(manifests)
        if d["kind"] == "Deployment"
    }
    assert replicas == {"frontend": 3, "backend": 3, "redis": 3, "mysql": 1}
    assert any("mysql: 1 replica, not 3" in n for n in manifests.notes)
    one, _ = export_folder(REPO / "environments" / "prod", {"web": 1})
    assert not any("replica" in n for n in one.notes)


def test_secrets_are_references_never_values() -> None:
    value = "G0lden-Secret-Value!"
    os.environ["POPCON_PROD_DB_PASSWORD"] = value
    try:
        manifests, desired = export_folder(REPO / "environments" / "prod", {"web": 2})
    finally:
        del os.environ["POPCON_PROD_DB_PASSWORD"]
    assert not any(value in text for text in manifests.files.values())
    external = [d for d in documents(manifests) if d["kind"] == "ExternalSecret"]
    assert len(external) == 1
    data = external[0]["spec"]["data"]  # type: ignore[index]
    assert {e["secretKey"]: e["remoteRef"]["key"] for e in data} == {  # type: ignore[index,union-attr]
        "DB_PASSWORD": "/popcon/prod/DB_PASSWORD",
        "DB_ROOT_PASSWORD": "/popcon/prod/DB_ROOT_PASSWORD",
        "DB_USERNAME": "/popcon/prod/DB_USERNAME",
    }
    assert not [d for d in documents(manifests) if d["kind"] == "Secret"]
    assert desired.environment == "prod"
