"""The sandbox as the bench uses it: an SSM client on moto and a Docker client on the main engine,
plus the clean-up of what the bench creates (parameters under a path, a Compose project)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import docker

from reconciler.sandbox.layout import CREDENTIALS
from reconciler.sandbox.lifecycle import SandboxInfo

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@dataclass(frozen=True)
class Sandbox:
    info: SandboxInfo
    ssm: SSMClient
    docker: docker.APIClient

    @classmethod
    def connect(cls, info: SandboxInfo) -> Sandbox:
        return cls(info, ssm_client(info), docker.APIClient(base_url=info.docker_host))

    def aws_env(self) -> dict[str, str]:
        """What a child process needs to reach moto as AWS."""
        return {
            "AWS_ACCESS_KEY_ID": CREDENTIALS[0],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS[1],
            "AWS_DEFAULT_REGION": self.info.region,
            "AWS_REGION": self.info.region,
            "AWS_ENDPOINT_URL": self.info.moto_url,
            "DOCKER_HOST": self.info.docker_host,
        }

    def close(self) -> None:
        self.docker.close()


def ssm_client(info: SandboxInfo) -> SSMClient:
    return boto3.client(
        "ssm", region_name=info.region, endpoint_url=info.moto_url,
        aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1],
    )  # fmt: skip


def put_parameters(
    ssm: SSMClient, values: Mapping[str, tuple[str, str]], tags: Mapping[str, str] | None = None
) -> None:
    """name -> (type, value), created or overwritten; tags only on creation."""
    for name, (type_, value) in values.items():
        kwargs: dict[str, Any] = {"Name": name, "Type": type_, "Value": value}
        try:
            ssm.put_parameter(**kwargs, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
        except ssm.exceptions.ParameterAlreadyExists:
            ssm.put_parameter(**kwargs, Overwrite=True)


def delete_path(ssm: SSMClient, path: str) -> int:
    names = [
        p["Name"]
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True)
        for p in page["Parameters"]
    ]
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start : start + 10])
    return len(names)


def remove_project(client: docker.APIClient, project: str) -> None:
    """Containers (with anonymous volumes), networks and named volumes of one Compose project."""
    label = f"{PROJECT_LABEL}={project}"
    for c in client.containers(all=True, filters={"label": label}):
        client.remove_container(c["Id"], force=True, v=True)
    for net in client.networks(filters={"label": label}):
        client.remove_network(net["Id"])
    for vol in (client.volumes(filters={"label": label}) or {}).get("Volumes") or []:
        client.remove_volume(vol["Name"], force=True)


def containers(client: docker.APIClient, project: str) -> dict[str, str]:
    """service -> container id, for the project's running or stopped containers."""
    found = client.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    return {c["Labels"].get(SERVICE_LABEL, "?"): c["Id"] for c in found}


def environments(client: docker.APIClient, project: str) -> dict[str, frozenset[str]]:
    """service -> its container's environment (NAME=value entries)."""
    return {
        service: frozenset(client.inspect_container(cid)["Config"]["Env"] or ())
        for service, cid in containers(client, project).items()
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
