"""The Environment kind: where AWS and Docker are, the hosts, the SSM prefix, the state store. Pure.

``aws`` is optional: an environment without it uses no AWS at all (no SSM, no ECR,
the state store in SQLite), and whatever needs AWS in it (a ParameterSet, an ecr
registry, a dynamodb state store) is an error saying to add ``aws``
(:func:`reconciler.spec.checks.environment_aws_issues` and the checks of ParameterSets and Images).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reconciler.core.fleet import template_placeholders
from reconciler.core.model import DEFAULT_HOST
from reconciler.spec.documents.base import Document, SpecModel
from reconciler.spec.documents.field_types import (
    DockerHost,
    EnvName,
    HttpUrl,
    Ownership,
    Reference,
    Region,
    ResourceName,
    SsmPath,
)
from reconciler.spec.documents.messages import invalid
from reconciler.spec.documents.notifications import NotificationEntry
from reconciler.spec.documents.registry import RegistrySection
from reconciler.spec.documents.rollout import DockerTemplate, GroupName, RolloutSection
from reconciler.spec.documents.rotation import LaunchTemplateSection


class AwsSection(SpecModel):
    region: Region = Field(description="AWS region of SSM and ECR, e.g. ap-northeast-2.")
    endpoint_url: HttpUrl | None = Field(
        default=None,
        description="Endpoint override for SSM and ECR (e.g. the sandbox's moto server "
        "http://127.0.0.1:4566). Default: AWS.",
    )


class DockerSection(SpecModel):
    host: DockerHost | None = Field(
        default=None,
        description="Docker engine address, e.g. unix:///var/run/docker.sock. Default: DOCKER_HOST, "
        "else the local socket.",
    )


class TlsSection(SpecModel):
    cert_path: Reference = Field(
        description="Folder holding ca.pem, cert.pem and key.pem (Docker's layout), relative to the "
        "environment folder or absolute."
    )
    verify: bool = Field(True, description="Verify the engine's certificate against ca.pem.")


class HostEntry(SpecModel):
    docker: DockerTemplate = Field(
        description="The host's Docker engine: unix:///var/run/docker.sock, tcp://10.0.1.11:2376 (with "
        "tls) or ssh://ec2-user@10.0.1.11. With fromAutoScalingGroup, a template naming the instance: "
        "{privateIp}, {privateDnsName} or {instanceId}, e.g. ssh://ec2-user@{privateIp}."
    )
    from_auto_scaling_group: GroupName | None = Field(
        None,
        description="Make this entry a fleet: the InService, healthy instances of this Auto Scaling group, "
        "found at every observation and named by instance id (service:i-0abc.../<stack>/<service>). "
        "Changes reach them a batch at a time by spec.rollout.",
    )
    launch_template: LaunchTemplateSection | None = Field(
        None,
        description="With fromAutoScalingGroup: the launch template and version the group's instances must "
        "run. The group is set to it (UpdateAutoScalingGroup) and instances on another version are rotated "
        "by spec.rollout.rotation. Default: the instances' template is not managed.",
    )
    tls: TlsSection | None = Field(None, description="Client certificates for a tcp:// engine with TLS.")
    variables: dict[EnvName, str] = Field(
        default_factory=dict,
        description="Plain Compose interpolation variables for the stacks on this host (e.g. a port "
        "that differs per host). Not for secrets: they are in git.",
    )

    @model_validator(mode="after")
    def _template_for_fleet(self) -> HostEntry:
        if self.from_auto_scaling_group is None and template_placeholders(self.docker):
            raise invalid(
                "docker",
                f"'{self.docker}' names an instance placeholder: placeholders are for entries with "
                "fromAutoScalingGroup",
            )
        if self.from_auto_scaling_group is None and self.launch_template is not None:
            raise invalid("launch_template", "a launch template is for entries with fromAutoScalingGroup")
        return self


class StateStoreSection(SpecModel):
    type: Literal["sqlite", "dynamodb"] = Field(
        "sqlite",
        description="sqlite: a file in the state dir (one machine, no AWS needed). dynamodb: a table in "
        "the environment's AWS account and region (aws.endpointUrl applies), for loops on several "
        "machines and for reading status from anywhere; `reconciler sandbox up` creates the sandbox's.",
    )
    table: ResourceName | None = Field(
        None, description="The DynamoDB table (type dynamodb only). Default: reconciler-state."
    )

    @model_validator(mode="after")
    def _table_for_dynamodb(self) -> StateStoreSection:
        if self.table is not None and self.type != "dynamodb":
            raise invalid("table", "a table is for type dynamodb only")
        return self


class EnvironmentSection(SpecModel):
    aws: AwsSection | None = Field(
        None,
        description="AWS settings for SSM Parameter Store, ECR and a dynamodb state store. Leave it out for "
        "an environment without AWS: images from any registry (Docker Hub, GHCR, your own), no "
        "ParameterSet, the state store in SQLite; no AWS client is then ever built.",
    )
    docker: DockerSection | None = Field(
        default=None,
        description="The Docker engine of an environment with one host (named 'default'). Use 'hosts' for several.",
    )
    hosts: dict[ResourceName, HostEntry] | None = Field(
        default=None,
        description="Named Docker hosts (e.g. web-1, web-2), in rollout order. Default: one host named "
        "'default' at docker.host.",
    )
    parameter_prefix: SsmPath | None = Field(
        None,
        description="SSM path every ParameterSet of this environment must live under, e.g. /popcon/dev. "
        "Required (with aws) as soon as the environment has a ParameterSet.",
    )
    registry: RegistrySection | None = Field(
        None, description="Default registry of Images entries that do not name their own."
    )
    ownership: Ownership | None = Field(
        default=None,
        description="Value of the reconciler.dev/owner tag and label on everything this environment "
        "creates. Default: reconciler-<metadata.name>. Only resources carrying it are ever deleted.",
    )
    self_heal: bool = Field(
        True,
        description="In the reconcile loop (`reconciler run`): correct drift (out-of-band changes) at every "
        "tick. false: drift is reported (condition OutOfSync) and nothing is changed until a new commit.",
    )
    rollout: RolloutSection | None = Field(
        None,
        description="How a change reaches the instances of hosts fromAutoScalingGroup: batches, the minimum "
        "in service, the load balancer, the health gate, alarms, bake and rollback. Default: one instance "
        "at a time through the group's own target groups.",
    )
    state_store: StateStoreSection | None = Field(
        None,
        description="Where the loop's lease, status and history live. Default: sqlite in the state dir.",
    )
    notifications: list[NotificationEntry] = Field(
        default_factory=list,
        description="Where the loop (`reconciler run`) tells what it did: deploys started, succeeded, failed and "
        "rolled back, drift corrected, degraded and recovered, a failed revision skipped. Slack, Microsoft Teams, "
        "Discord, a generic (optionally HMAC-signed) webhook, SNS, CloudWatch metrics. Delivered in the "
        "background with retries: a destination that is down never delays or fails a deploy.",
    )

    @model_validator(mode="after")
    def _one_host_form(self) -> EnvironmentSection:
        if self.docker is not None and self.hosts is not None:
            raise invalid("hosts", "give either 'docker' (one host) or 'hosts' (named hosts), not both")
        if self.hosts is not None and not self.hosts:
            raise invalid("hosts", "name at least one host, or leave 'hosts' out for the local engine")
        if self.rollout is not None and not any(h.from_auto_scaling_group for h in (self.hosts or {}).values()):
            raise invalid("rollout", "rollout is for hosts fromAutoScalingGroup, and no host entry has one")
        names = [n.name for n in self.notifications]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise invalid("notifications", f"two notifications are named '{twice}': names must be unique")
        return self


class Environment(Document):
    """The environment itself: where AWS and Docker are, the SSM prefix, the default registry.

    Exactly one per environment folder."""

    kind: Literal["Environment"] = Field(description="Environment")
    spec: EnvironmentSection = Field(description="AWS, Docker, SSM prefix, registry and ownership settings.")


def environment_hosts(env: Environment) -> list[str]:
    """The Environment's host names in rollout order (one named 'default' without ``hosts``)."""
    return list(env.spec.hosts) if env.spec.hosts else [DEFAULT_HOST]
