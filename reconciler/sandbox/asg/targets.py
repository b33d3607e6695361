"""ELBv2 DeregisterTargets as AWS answers it: a target that is not registered is no error. Does I/O (boto3 on moto).

AWS answers DeregisterTargets with success when a target named is not (or
no longer) registered -- the group has already taken out the instance it
terminated, for example -- where moto raises ``InvalidTarget`` at the first
such target, having deregistered the ones before it. :func:`deregister`
does the deregistration itself when the request names a target moto does
not have registered (only the registered ones are deregistered, once) and
returns the answer; None when moto can answer as AWS would (every target
registered, or a target group it does not know: its error is AWS's).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from reconciler.sandbox.asg.query import AwsRequest
from reconciler.sandbox.moto import error_code

if TYPE_CHECKING:
    from reconciler.sandbox.moto import MotoClients

NAMESPACE = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"


def _named(req: AwsRequest) -> list[str]:
    prefix = "Targets.member."
    return [v for k, v in sorted(req.params.items()) if k.startswith(prefix) and k.endswith(".Id")]


def answer() -> bytes:
    return (
        f'<DeregisterTargetsResponse xmlns="{NAMESPACE}"><DeregisterTargetsResult/>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></DeregisterTargetsResponse>"
    ).encode()


def deregister(c: MotoClients, req: AwsRequest) -> bytes | None:
    """The answer when the request names a target that is not registered (the registered ones deregistered)."""
    named, arn = _named(req), req.get("TargetGroupArn")
    try:
        health = c.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    except Exception as e:
        if error_code(e) is not None:
            return None  # no such target group: moto's error is AWS's
        raise
    registered = {h["Target"]["Id"]: h["Target"] for h in health}
    if all(n in registered for n in named):
        return None
    out = [registered[n] for n in dict.fromkeys(named) if n in registered]
    if out:
        c.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": t["Id"], "Port": t["Port"]} for t in out])
    return answer()
