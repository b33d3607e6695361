"""Seeds the sandbox's moto server with what terraform creates in the pop-con flow.

In pop-con (seeds/003) terraform creates the ECR repositories and the SSM
parameters, and the reconciler then treats the SecureStrings as *external*.
This module plays terraform's part against moto: the ECR repositories holding
the demo images (same manifests, so ECR digests equal the local registry's),
the external SecureStrings of dev and prod with random values, one foreign
parameter that nobody owns (prune must leave it alone) and the state store's
DynamoDB table (:data:`STATE_TABLE`, for environments whose lease, status and
history live in DynamoDB). Nothing seeded carries the reconciler's ownership
tag. moto keeps its state in memory, so every call checks what is there and
creates only what is missing. Does I/O through the injected boto3 clients.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.drivers.state.dynamodb_table import DEFAULT_TABLE, ensure_table
from reconciler.sandbox.images import BuiltImage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ssm import SSMClient

ACCOUNT_ID = "123456789012"  # moto's default account
STATE_TABLE = DEFAULT_TABLE  # reconciler-state
SEED_DESCRIPTION = "created outside the reconciler (reconciler sandbox, standing in for terraform)"


@dataclass(frozen=True)
class SeedParameter:
    name: str
    type: str  # String | SecureString
    value: Callable[[], str]  # generated only when the parameter is missing


def _password() -> str:
    return secrets.token_urlsafe(18)


def _username(env: str) -> Callable[[], str]:
    return lambda: f"popcon_{env}_{secrets.token_hex(3)}"


# The SecureStrings the environments declare `external: true`, plus a foreign
# String under dev's path that no spec mentions.
SEED_PARAMETERS: tuple[SeedParameter, ...] = (
    SeedParameter("/popcon/dev/DB_USERNAME", "SecureString", _username("dev")),
    SeedParameter("/popcon/dev/DB_PASSWORD", "SecureString", _password),
    SeedParameter("/popcon/dev/DB_ROOT_PASSWORD", "SecureString", _password),
    SeedParameter("/popcon/dev/LEGACY_FEATURE_FLAG", "String", lambda: "on"),
    SeedParameter("/popcon/prod/DB_USERNAME", "SecureString", _username("prod")),
    SeedParameter("/popcon/prod/DB_ROOT_PASSWORD", "SecureString", _password),
)
FOREIGN_PARAMETER = "/popcon/dev/LEGACY_FEATURE_FLAG"


def seed_parameters(
    ssm: SSMClient, on_event: Callable[[str], None], parameters: Iterable[SeedParameter] = SEED_PARAMETERS
) -> list[str]:
    """Create the missing seed parameters (never overwrite). Returns the names created."""
    wanted = list(parameters)
    existing: set[str] = set()
    for i in range(0, len(wanted), 10):  # GetParameters takes at most 10 names
        resp = ssm.get_parameters(Names=[p.name for p in wanted[i : i + 10]], WithDecryption=False)
        existing.update(p["Name"] for p in resp.get("Parameters", []))
    created = []
    for p in wanted:
        if p.name in existing:
            continue
        ssm.put_parameter(Name=p.name, Type=p.type, Value=p.value(), Description=SEED_DESCRIPTION)  # type: ignore[arg-type]
        created.append(p.name)
    if created:
        on_event(f"moto: created {len(created)} parameter(s) outside the reconciler: {', '.join(created)}")
    else:
        on_event(f"moto: all {len(wanted)} seed parameters present")
    return created


def seed_ecr(ecr: ECRClient, built: Iterable[BuiltImage], on_event: Callable[[str], None]) -> list[str]:
    """Create the ECR repositories and put the demo manifests. Returns what was created."""
    images = list(built)
    repos = list(dict.fromkeys(b.image.repository for b in images))
    have = {r["repositoryName"] for r in ecr.describe_repositories().get("repositories", [])}
    created: list[str] = []
    for repo in repos:
        if repo not in have:
            ecr.create_repository(repositoryName=repo, tags=[{"Key": "ManagedBy", "Value": "terraform"}])
            created.append(f"ecr repository {repo}")
    for b in images:
        repo, tag = b.image.repository, b.image.tag
        current = {
            d.get("imageDigest")
            for d in ecr.describe_images(repositoryName=repo).get("imageDetails", [])
            if tag in d.get("imageTags", [])
        }
        if current == {b.digest}:
            continue
        ecr.put_image(
            repositoryName=repo,
            imageManifest=b.manifest.decode(),
            imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
            imageTag=tag,
            imageDigest=b.digest,
        )
        created.append(f"ecr image {repo}:{tag}")
    if created:
        on_event(f"moto: created {', '.join(created)}")
    else:
        on_event(f"moto: ECR repositories {', '.join(repos)} present with the demo images")
    return created


def seed_state_table(dynamodb: DynamoDBClient, on_event: Callable[[str], None], table: str = STATE_TABLE) -> list[str]:
    """Create the state store's DynamoDB table unless it exists. Returns what was created."""
    if ensure_table(dynamodb, table):
        on_event(f"moto: created DynamoDB table {table} (the state store)")
        return [f"dynamodb table {table}"]
    on_event(f"moto: DynamoDB table {table} present")
    return []
