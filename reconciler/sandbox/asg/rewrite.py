"""DescribeAutoScalingGroups and DescribeAutoScalingInstances as AWS would answer them, from moto's answer. Pure.

moto says ``InService`` of every instance of a group and gives each the
template's default version. :func:`rewrite` changes, in every instance
entry of the answer (an element with an ``InstanceId`` and a
``LifecycleState``), the state of an instance held by a launch hook to
``Pending:Wait`` and the ``LaunchTemplate`` ``Version`` to the one the
instance was launched with (:class:`~.book.Book`); anything else is left as
moto wrote it, and an answer that is not XML is returned as it came.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Set

DESCRIBES = frozenset({"DescribeAutoScalingGroups", "DescribeAutoScalingInstances"})
PENDING_WAIT = "Pending:Wait"


def rewrite(body: bytes, waiting: Set[str], versions: Mapping[str, str]) -> bytes:
    """moto's answer with the states of ``waiting`` instances and each instance's own launch version."""
    if not waiting and not versions:
        return body
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body
    ns = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""

    def q(tag: str) -> str:
        return f"{{{ns}}}{tag}" if ns else tag

    changed = False
    for entry in root.iter():
        instance_id, state = entry.find(q("InstanceId")), entry.find(q("LifecycleState"))
        if instance_id is None or state is None:
            continue
        name = instance_id.text or ""
        if name in waiting and state.text != PENDING_WAIT:
            state.text, changed = PENDING_WAIT, True
        version = entry.find(f"{q('LaunchTemplate')}/{q('Version')}")
        if name in versions and version is not None and version.text != versions[name]:
            version.text, changed = versions[name], True
    if not changed:
        return body
    return bytes(ET.tostring(root, encoding="utf-8", default_namespace=ns or None))
