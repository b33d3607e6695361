"""drivers/readonly: every mutating call through a read-only client is refused before it leaves,
and the world is unchanged (checked with a normal client); reads work. Real moto, engine, registry."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator

import docker
import pytest
import requests
from botocore import xform_name
from botocore.exceptions import ClientError

from drivers.worldkit import PushedImage, uid
from reconciler.core.errors import PermanentError, ReadOnlyViolation
from reconciler.core.model import ParameterPath
from reconciler.drivers.aws.clients import AwsClients, CallCounter
from reconciler.drivers.docker.client import DockerCallCounter, translate_docker_errors
from reconciler.drivers.readonly import (
    DOCKER_READS,
    ReadOnlyDockerApi,
    ReadOnlySession,
    is_read_operation,
    read_only_boto3,
)
from reconciler.drivers.registry.ecr import EcrRegistry
from reconciler.drivers.registry.oci import OciRegistry
from reconciler.observe.parameters import observe_owned, observe_parameters, observe_tags
from reconciler.observe.stacks import observe_docker

pytestmark = pytest.mark.world


def test_read_operations_by_verb() -> None:
    for op in (
        "GetParametersByPath",
        "DescribeParameters",
        "ListTagsForResource",
        "DescribeImages",
        "BatchGetImage",
        "GetAuthorizationToken",
        "GetParameter",
        "GetSecretValue",
        "BatchGetSecretValue",
    ):
        assert is_read_operation(op), op
    for op in (
        "PutParameter",
        "DeleteParameter",
        "DeleteParameters",
        "AddTagsToResource",
        "LabelParameterVersion",
        "CreateRepository",
        "PutImage",
        "BatchDeleteImage",
        "SendCommand",
        "StartSession",
        "PutSecretValue",
        "UpdateSecretVersionStage",
        "RotateSecret",
    ):
        assert not is_read_operation(op), op


# ---- AWS (moto) --------------------------------------------------------------------


@pytest.fixture()
def read_only(sandbox) -> AwsClients:  # type: ignore[no-untyped-def]
    from drivers.worldkit import aws

    clients = aws(sandbox.moto_url)
    read_only_boto3(clients.ssm)
    read_only_boto3(clients.ecr)
    return clients


def test_ssm_writes_are_refused_and_nothing_changes(read_only: AwsClients, clients: AwsClients, prefix: str) -> None:
    name = f"{prefix}/app/PW"
    clients.ssm.put_parameter(Name=f"{prefix}/app/HOST", Type="String", Value="db")
    counter = CallCounter().attach(read_only.ssm)
    with pytest.raises(ReadOnlyViolation) as info:
        read_only.ssm.put_parameter(Name=name, Type="SecureString", Value="s3cret")
    assert isinstance(info.value, PermanentError)
    assert str(info.value).startswith("read-only ssm client: PutParameter refused")
    assert read_only.ssm.meta.endpoint_url in str(info.value)
    with pytest.raises(ReadOnlyViolation):
        read_only.ssm.delete_parameter(Name=f"{prefix}/app/HOST")
    with pytest.raises(ReadOnlyViolation):
        read_only.ssm.add_tags_to_resource(
            ResourceType="Parameter", ResourceId=f"{prefix}/app/HOST", Tags=[{"Key": "k", "Value": "v"}]
        )
    assert counter.total() == 0  # refused before the call: nothing was sent
    # the world, through a normal client: nothing created, deleted or tagged
    with pytest.raises(ClientError, match="ParameterNotFound"):
        clients.ssm.get_parameter(Name=name)
    assert clients.ssm.get_parameter(Name=f"{prefix}/app/HOST")["Parameter"]["Value"] == "db"
    tags = clients.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{prefix}/app/HOST")
    assert tags["TagList"] == []


def test_every_mutating_aws_operation_is_refused(read_only: AwsClients) -> None:
    """All non-read operations of the SSM and ECR models, called with no arguments: each is refused
    before parameter validation, so none reaches moto."""
    counter = CallCounter().attach(read_only.ssm, read_only.ecr)
    refused = 0
    for client in (read_only.ssm, read_only.ecr):
        for op in client.meta.service_model.operation_names:
            if is_read_operation(op):
                continue
            with pytest.raises(ReadOnlyViolation, match=op):
                getattr(client, xform_name(op))()
            refused += 1
    assert refused > 40 and counter.total() == 0


def test_reads_work_through_read_only_clients(read_only: AwsClients, clients: AwsClients, prefix: str) -> None:
    for i in range(12):
        clients.ssm.put_parameter(
            Name=f"{prefix}/r/K{i:02d}", Type="String", Value=f"v{i}", Tags=[{"Key": "owner", "Value": "me"}]
        )
    found = observe_parameters(
        read_only.ssm, [ParameterPath(path=f"{prefix}/r", set_name="r", prune=False, decrypt=False)]
    )
    assert len(found) == 12
    assert observe_tags(read_only.ssm, [f"{prefix}/r/K01", f"{prefix}/r/none"]) == {f"{prefix}/r/K01": {"owner": "me"}}
    assert len(observe_owned(read_only.ssm, [f"{prefix}/r"], "owner", "me")) == 12
    ecr = EcrRegistry(read_only.ecr)
    assert ecr.resolve(f"test-{uid()}/none", ["1"]) == {}
    assert ecr.login().username == "AWS"  # GetAuthorizationToken is a read


def test_ecr_writes_are_refused(read_only: AwsClients, clients: AwsClients) -> None:
    name = f"test-{uid()}/app"
    with pytest.raises(ReadOnlyViolation, match="CreateRepository"):
        read_only.ecr.create_repository(repositoryName=name)
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        clients.ecr.describe_repositories(repositoryNames=[name])


# ---- Docker --------------------------------------------------------------------------


def test_docker_writes_are_refused_and_nothing_is_created(
    docker_api: docker.APIClient, test_image: PushedImage
) -> None:
    label = f"reconciler.test/readonly={uid()}"
    api = ReadOnlyDockerApi(docker_api)
    counter = DockerCallCounter().attach(docker_api)
    with pytest.raises(ReadOnlyViolation) as info:
        api.create_container(test_image.pinned("1"), labels={label.split("=")[0]: label.split("=")[1]})
    assert str(info.value).startswith("read-only docker client: create_container refused")
    assert "unix://" in str(info.value) or "http" in str(info.value)
    with pytest.raises(ReadOnlyViolation, match="pull"):
        api.pull(test_image.pinned("1"))
    with pytest.raises(ReadOnlyViolation, match="remove_container"):
        api.remove_container("anything")
    with pytest.raises(ReadOnlyViolation, match="create_network"):
        api.create_network(f"ro-{uid()}")
    assert counter.total() == 0
    assert docker_api.containers(all=True, filters={"label": label}) == []
    local = {d for img in docker_api.images() for d in img.get("RepoDigests") or []}
    assert test_image.pinned("1") not in local


def test_every_docker_method_outside_the_allow_list_is_refused(docker_api: docker.APIClient) -> None:
    api = ReadOnlyDockerApi(docker_api)
    public = [n for n, v in inspect.getmembers(docker.APIClient) if not n.startswith("_") and callable(v)]
    refused = [n for n in public if n not in DOCKER_READS and n != "close"]
    for name in refused:
        with pytest.raises(ReadOnlyViolation):
            getattr(api, name)
    must = {"create_container", "start", "stop", "kill", "remove_image", "build", "push", "tag", "put_archive"}
    must |= {"exec_create", "prune_containers", "post", "put", "delete", "request", "send"}
    assert must <= set(refused)
    # private lookups behave like any object's (copy/pickle/getattr defaults)
    assert getattr(api, "_custom_adapter", None) is None


def test_docker_reads_work_through_the_wrapper(docker_api: docker.APIClient) -> None:
    api = ReadOnlyDockerApi(docker_api)
    assert api.ping() is True
    assert api.version()["ApiVersion"]
    seen = observe_docker(api, [], projects=[f"none-{uid()}"])
    assert seen.containers == () and seen.local_images == frozenset()
    with pytest.raises(PermanentError, match="HTTP 404"), translate_docker_errors(api, "network x"):
        api.inspect_network(f"none-{uid()}")


# ---- registry ------------------------------------------------------------------------


@pytest.fixture()
def ro_http() -> Iterator[ReadOnlySession]:
    with ReadOnlySession() as s:
        yield s


def test_registry_writes_are_refused_and_the_registry_is_unchanged(
    sandbox,
    ro_http: ReadOnlySession,
    test_image: PushedImage,  # type: ignore[no-untyped-def]
) -> None:
    base = f"http://{sandbox.registry}/v2/{test_image.repository}"
    digest = test_image.digests["1"]
    with pytest.raises(ReadOnlyViolation) as info:
        ro_http.delete(f"{base}/manifests/{digest}", timeout=10)
    assert str(info.value).startswith("read-only http client: DELETE /v2/")
    assert f"http://{sandbox.registry}" in str(info.value)
    with pytest.raises(ReadOnlyViolation, match="POST"):
        ro_http.post(f"{base}/blobs/uploads/", timeout=10)
    with pytest.raises(ReadOnlyViolation, match="PUT"):
        ro_http.put(f"{base}/manifests/evil", data=json.dumps({"schemaVersion": 2}), timeout=10)
    with pytest.raises(ReadOnlyViolation, match="PATCH"):
        ro_http.patch(f"{base}/blobs/uploads/x", data=b"", timeout=10)
    with requests.Session() as http:
        tags = http.get(f"{base}/tags/list", timeout=10).json()["tags"]
        assert sorted(tags) == ["1", "2"]  # no "evil" tag
        head = http.head(
            f"{base}/manifests/{digest}",
            timeout=10,
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert head.status_code == 200  # not deleted
    # reads work: the resolver needs only GET/HEAD
    reg = OciRegistry(ro_http, sandbox.registry, insecure=True)
    assert reg.resolve(test_image.repository, ["1", "2"]) == test_image.digests
