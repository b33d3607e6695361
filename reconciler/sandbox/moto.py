"""The sandbox's AWS: a moto server behind the AWS front, and the AWS clients that seed it. Does I/O.

:func:`ensure_aws` makes the AWS endpoint whole: moto on its internal port
(:func:`ensure_moto` uses a moto server that answers there, else starts
``moto_server``, the one beside this Python, without any real AWS credential
in its environment) and, on the AWS port every client uses, the front
(:mod:`.front`: everything forwarded to moto, target health from the
sandbox's load balancers). A sandbox from before the front, whose moto
answers on the AWS port itself, has it moved behind the front (restarted).
moto keeps everything in memory, so what terraform would have created is
seeded again after each start (:mod:`.seed`) through :func:`clients`: one
boto3 client per simulated AWS service, with the sandbox's fixed credentials and region (EC2, Auto Scaling, ELBv2 and
CloudWatch for the fleet, :mod:`reconciler.sandbox.fleet.aws`). A newly
simulated service adds its client to :class:`MotoClients` and its seeding to
a module of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import reconciler
from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import processes
from reconciler.sandbox.fleet.followed import DECLARATIONS
from reconciler.sandbox.layout import CREDENTIALS, HOST, REGION, Endpoints
from reconciler.sandbox.processes import Clock, Daemon, Service

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_ssm import SSMClient


def moto_answers(port: int) -> bool:
    got = processes.http_get(f"http://{HOST}:{port}/moto-api/config")
    if got is None or got[0] not in (200, 201):
        return False
    try:
        return isinstance(json.loads(got[2]), dict)
    except ValueError:
        return False


DAEMON = Daemon("moto", "moto server", "a moto server", "moto_server", moto_answers)


FRONT_MODULE = "reconciler.sandbox.front"  # the front's module (its command line names it)
FRONT_MARKER = "/_sandbox/aws-front"  # the path on which the front tells itself from moto


def front_answers(port: int) -> bool:
    got = processes.http_get(f"http://{HOST}:{port}{FRONT_MARKER}")
    if got is None or got[0] != 200:
        return False
    try:
        return bool(json.loads(got[2]).get("front") == FRONT_MODULE)
    except (ValueError, AttributeError):
        return False


FRONT = Daemon("aws-front", "AWS front", "the sandbox's AWS front", FRONT_MODULE, front_answers)


def moto_binary() -> Path | None:
    beside = Path(sys.executable).parent / "moto_server"
    if beside.is_file():
        return beside
    found = shutil.which("moto_server")
    return Path(found) if found else None


def ensure_moto(state_dir: Path, port: int, clock: Clock, timeout: float = 30.0) -> Service:
    address = f"http://{HOST}:{port}"
    found = DAEMON.running(state_dir, port, address)
    if found is not None:
        return found
    binary = moto_binary()
    if binary is None:
        raise ReconcilerError(
            "moto_server not found next to this Python; pip install 'moto[server]' (make install)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # no real credentials leak into moto
    argv = [str(binary), "-H", HOST, "-p", str(port)]
    return DAEMON.start(state_dir, port, address, argv, clock, timeout, env=env)


def front_book(state_dir: Path) -> Path:
    """Where the front's Auto Scaling keeps what moto does not (:mod:`.asg.book`)."""
    return state_dir / "aws-front-autoscaling.json"


def ensure_front(state_dir: Path, port: int, upstream: str, clock: Clock, timeout: float = 15.0) -> Service:
    """The front on the AWS port, forwarding to moto at ``upstream``; one this state dir started with other
    arguments (an older sandbox's) is started again."""
    address = f"http://{HOST}:{port}"
    argv = [sys.executable, "-m", FRONT_MODULE, "--port", str(port), "--upstream", upstream,
            "--declarations", str(DECLARATIONS), "--state", str(front_book(state_dir))]  # fmt: skip
    found = FRONT.running(state_dir, port, address)
    pid = FRONT.pid(state_dir)
    if found is not None and pid is not None and processes.cmdline(pid)[1:] != argv[1:]:
        FRONT.stop(state_dir, clock)
        found = None
    if found is not None:
        return found
    package_root = str(Path(reconciler.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return FRONT.start(state_dir, port, address, argv, clock, timeout, env=env)


def _moto_on_the_aws_port(state_dir: Path, where: Endpoints, clock: Clock, on_event: Callable[[str], None]) -> None:
    """moto itself answers on the AWS port (a sandbox from before the front): stop it if this state dir
    started it (it starts again behind the front, empty, and is seeded again), else a clear error."""
    pid = DAEMON.pid(state_dir)
    if pid is None or str(where.moto_port) not in processes.cmdline(pid):
        raise ReconcilerError(
            f"a moto server the sandbox did not start answers on {HOST}:{where.moto_port}, the port of the "
            "sandbox's AWS front; stop it, or set RECONCILER_SANDBOX_MOTO_PORT (the front) and "
            "RECONCILER_SANDBOX_MOTO_INTERNAL_PORT (moto behind it)"
        )
    DAEMON.stop(state_dir, clock)
    on_event(f"moto server: answered on the AWS port {where.moto_port} itself (pid {pid}, from before the AWS "
             f"front): stopped, to start again behind the front on {where.moto_server_port}")  # fmt: skip


def ensure_aws(
    state_dir: Path, where: Endpoints, clock: Clock, on_event: Callable[[str], None]
) -> tuple[Service, Service]:
    """moto on its internal port, the front on the AWS port: (moto, front)."""
    if not front_answers(where.moto_port) and moto_answers(where.moto_port):
        _moto_on_the_aws_port(state_dir, where, clock, on_event)
    aws = ensure_moto(state_dir, where.moto_server_port, clock)
    if aws.started:  # a new, empty moto: nothing the front kept of the last one applies
        front_book(state_dir).unlink(missing_ok=True)
    return aws, ensure_front(state_dir, where.moto_port, where.moto_server_url, clock)


@dataclass(frozen=True)
class MotoClients:
    """The AWS clients on moto that seeding uses, one per simulated service."""

    ssm: SSMClient
    ecr: ECRClient
    dynamodb: DynamoDBClient
    ec2: EC2Client  # the fleet (reconciler.sandbox.fleet): VPC, subnet, launch template, instances
    autoscaling: AutoScalingClient
    elbv2: ElasticLoadBalancingv2Client
    cloudwatch: CloudWatchClient


def error_code(e: Exception) -> str | None:
    """The AWS error code of a failed call (botocore's ClientError), None for any other exception."""
    from botocore.exceptions import ClientError

    return str(e.response.get("Error", {}).get("Code", "")) if isinstance(e, ClientError) else None


@contextlib.contextmanager
def clients(moto_url: str, region: str = REGION) -> Iterator[MotoClients]:
    """The seeding clients on moto (in the sandbox's region unless told), closed on the way out."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    session = boto3.session.Session(
        region_name=region, aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1]
    )
    made = MotoClients(
        ssm=session.client("ssm", endpoint_url=moto_url, config=config),
        ecr=session.client("ecr", endpoint_url=moto_url, config=config),
        dynamodb=session.client("dynamodb", endpoint_url=moto_url, config=config),
        ec2=session.client("ec2", endpoint_url=moto_url, config=config),
        autoscaling=session.client("autoscaling", endpoint_url=moto_url, config=config),
        elbv2=session.client("elbv2", endpoint_url=moto_url, config=config),
        cloudwatch=session.client("cloudwatch", endpoint_url=moto_url, config=config),
    )
    try:
        yield made
    finally:
        for client in (made.ssm, made.ecr, made.dynamodb, made.ec2, made.autoscaling, made.elbv2, made.cloudwatch):
            client.close()
