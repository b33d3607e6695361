"""AWS query-protocol requests as the front sees them, and the Auto Scaling answers it writes itself. Pure.

:func:`parse` tells which service a request is for (the SigV4 credential
scope of its ``Authorization`` header, else the API ``Version``), in which
region, the ``Action`` and its parameters (form-encoded body and query
string); None for what is not a query-protocol request (JSON protocols such
as SSM's, S3, the front's own paths). :func:`answer` and :func:`error` write
an Auto Scaling response the way the service does (its XML namespace, a
request id; errors as ``ErrorResponse`` with ``Sender`` faults, HTTP 400).
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

FORM = "application/x-www-form-urlencoded"
AUTOSCALING, EC2, ELBV2 = "autoscaling", "ec2", "elasticloadbalancing"
VERSIONS = {"2011-01-01": AUTOSCALING, "2016-11-15": EC2, "2015-12-01": ELBV2}  # the API versions botocore sends
NAMESPACE = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


@dataclass(frozen=True)
class AwsRequest:
    service: str  # autoscaling, ec2, elasticloadbalancing ... (the credential scope's)
    region: str  # "" when the request does not say
    action: str
    params: Mapping[str, str] = field(default_factory=dict)  # the first value of each parameter

    def get(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)

    def flag(self, name: str, default: bool) -> bool:
        """A boolean parameter (botocore sends ``true``/``false``)."""
        value = self.params.get(name)
        return default if value is None else value.strip().lower() == "true"


def _scope(authorization: str) -> tuple[str, str]:
    """(service, region) of a SigV4 ``Authorization`` header; ("", "") when it has none."""
    for part in authorization.replace(",", " ").split():
        if part.startswith("Credential="):
            fields = part.removeprefix("Credential=").split("/")
            if len(fields) >= 5:
                return fields[3], fields[2]
    return "", ""


def parse(method: str, path: str, headers: Mapping[str, str], body: bytes) -> AwsRequest | None:
    """The query-protocol request, or None when it is not one."""
    query = urllib.parse.urlsplit(path).query
    params = urllib.parse.parse_qs(query)
    content_type = headers.get("Content-Type", headers.get("content-type", ""))
    if method == "POST" and content_type.split(";")[0].strip().lower() == FORM:
        params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    action = params.get("Action", [""])[0]
    if not action:
        return None
    service, region = _scope(headers.get("Authorization", headers.get("authorization", "")))
    service = service or VERSIONS.get(params.get("Version", [""])[0], "")
    if not service:
        return None
    return AwsRequest(service, region, action, {k: v[0] for k, v in params.items()})


def answer(action: str, result: str = "") -> bytes:
    """``<ActionResponse>`` with ``result`` (XML inside ``<ActionResult>``) and a request id."""
    return (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def error(code: str, message: str) -> bytes:
    """An ``ErrorResponse`` (sent with HTTP 400): botocore raises it as a ClientError with this code."""
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
