"""What has no Kubernetes equivalent is listed with its file, line and key, never dropped: host
networking, privileged, a bind mount of a host path, build, host devices, an unknown key; and a
value from Secrets Manager is an ExternalSecret entry (secret id, key, stage), never a value."""

from __future__ import annotations

import shutil
from pathlib import Path

from ruamel.yaml import YAML

from export.kit import REPO, documents, export_folder, validate

AGENT = {
    "image": "127.0.0.1:5000/popcon/agent:1.0",
    "build": {"context": "."},
    "privileged": True,
    "network_mode": "host",
    "devices": ["/dev/fuse:/dev/fuse"],
    "volumes": ["./agent.conf:/etc/agent.conf:ro", "agent-cache:/cache"],
    "ulimits": {"nofile": 65536},
    "restart": "on-failure",
}


def _dev_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "dev"
    shutil.copytree(REPO / "environments" / "dev", folder)
    yaml = YAML()
    compose = folder / "docker-compose.yml"
    data = yaml.load(compose.read_text())
    data["services"]["agent"] = AGENT
    data["volumes"]["agent-cache"] = {}
    with compose.open("w") as fh:
        yaml.dump(data, fh)
    (folder / "agent.conf").write_text("x=1\n")
    return folder


def test_each_untranslatable_feature_is_a_finding_naming_file_line_and_key(tmp_path: Path) -> None:
    manifests, _ = export_folder(_dev_copy(tmp_path))
    found = {(f.field, f.where) for f in manifests.untranslated}
    where = next(w for field, w in found if field.startswith("services.agent"))
    path, line = where.rsplit(":", 1)
    assert path.endswith("dev/docker-compose.yml") and int(line) > 1
    keys = sorted(f.field for f in manifests.untranslated)
    assert keys == [
        "services.agent.build",
        "services.agent.devices",
        "services.agent.network_mode",
        "services.agent.privileged",
        "services.agent.ulimits",
        "services.agent.volumes",
    ]
    messages = "\n".join(str(f) for f in manifests.untranslated)
    assert "host networking" in messages and "bind mount of the host path ./agent.conf" in messages
    assert any("agent: restart: on-failure becomes" in n for n in manifests.notes)
    # the rest is still translated (and valid): the named volume is a claim, the others untouched
    assert "dev-popcon/agent.yaml" in manifests.files and validate(manifests) > 9
    claims = [d["metadata"]["name"] for d in documents(manifests) if d["kind"] == "PersistentVolumeClaim"]  # type: ignore[index]
    assert sorted(claims) == ["agent-cache", "mysql-data"]


def test_a_value_from_secrets_manager_is_an_external_secret_entry(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    shutil.copytree(REPO / "environments" / "dev", folder)
    params = folder / "parameters.yaml"
    text = params.read_text().replace(
        "DB_PASSWORD: {type: SecureString, external: true}",
        "DB_PASSWORD: {fromSecretsManager: {secretId: table-order/db, key: password, versionStage: AWSPREVIOUS}}",
    )
    params.write_text(text)
    manifests, _ = export_folder(folder)
    (external,) = [d for d in documents(manifests) if d["kind"] == "ExternalSecret"]
    entries = {e["secretKey"]: e for e in external["spec"]["data"]}  # type: ignore[index]
    assert entries["DB_PASSWORD"] == {
        "secretKey": "DB_PASSWORD",
        "remoteRef": {"key": "table-order/db", "property": "password", "version": "AWSPREVIOUS"},
        "sourceRef": {"storeRef": {"name": "aws-secrets-manager", "kind": "SecretStore"}},
    }
    assert entries["DB_USERNAME"] == {"secretKey": "DB_USERNAME", "remoteRef": {"key": "/popcon/dev/DB_USERNAME"}}
    stores = {d["metadata"]["name"]: d["spec"]["provider"]["aws"] for d in documents(manifests)  # type: ignore[index]
              if d["kind"] == "SecretStore"}  # fmt: skip
    assert stores == {
        "aws-parameter-store": {"service": "ParameterStore", "region": "ap-northeast-2"},
        "aws-secrets-manager": {"service": "SecretsManager", "region": "ap-northeast-2"},
    }


def test_the_application_points_at_the_folder_and_the_kustomization_lists_every_file() -> None:
    manifests, _ = export_folder(REPO / "environments" / "dev")
    (app,) = [d for d in documents(manifests) if d["kind"] == "Application"]
    assert app["spec"]["source"] == {  # type: ignore[index]
        "repoURL": "https://github.com/acme/popcon-gitops.git",
        "targetRevision": "main",
        "path": "kubernetes/dev",
    }
    (kustomization,) = [d for d in documents(manifests) if d["kind"] == "Kustomization"]
    listed = kustomization["resources"]
    assert listed == sorted(f for f in manifests.files if f not in ("kustomization.yaml", "application.yaml"))
