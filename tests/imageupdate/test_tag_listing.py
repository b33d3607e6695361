"""Listing a repository's tags: the sandbox's registry (OCI tags list, its pages) and moto's ECR (DescribeImages
pages), one call per page."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests
from botocore.stub import Stubber
from drivers.worldkit import aws, uid

from imageupdate.registrykit import push_tags, put_ecr_tags
from reconciler.core.errors import WorldError
from reconciler.drivers.aws.clients import CallCounter
from reconciler.drivers.registry.ecr import EcrRegistry
from reconciler.drivers.registry.oci import OciRegistry, RegistryCallCounter


def test_oci_tags_of_the_sandbox_registry(sandbox) -> None:  # type: ignore[no-untyped-def]
    repository = f"test-{uid()}/app"
    push_tags(sandbox.registry, repository, ["1.0.0", "1.1.0", "latest"])
    with requests.Session() as http:
        counter = RegistryCallCounter().attach(http)
        registry = OciRegistry(http, sandbox.registry, insecure=True)
        assert sorted(registry.tags(repository) or []) == ["1.0.0", "1.1.0", "latest"]
        assert sum(counter.calls.values()) == 1
        assert registry.tags(f"test-{uid()}/none") is None


@pytest.fixture()
def paging_registry() -> Iterator[tuple[str, list[str]]]:
    """A registry that pages its tags list as the distribution spec says (n, last, Link), as Docker Hub does."""
    tags = [f"1.{i}.0" for i in range(7)]
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            url = urlparse(self.path)
            query = parse_qs(url.query)
            n, last = int(query["n"][0]), query.get("last", [""])[0]
            rest = [t for t in tags if t > last]
            body = json.dumps({"name": "a/b", "tags": rest[:n]}).encode()
            self.send_response(200)
            if len(rest) > n:
                self.send_header("Link", f'</v2/a/b/tags/list?n={n}&last={rest[n - 1]}>; rel="next"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_oci_tags_follow_every_page_once(paging_registry: tuple[str, list[str]]) -> None:
    host, seen = paging_registry
    with requests.Session() as http:
        tags = OciRegistry(http, host, insecure=True).tags("a/b", page_size=3)
    assert tags == [f"1.{i}.0" for i in range(7)]
    assert seen == ["/v2/a/b/tags/list?n=3", "/v2/a/b/tags/list?n=3&last=1.2.0", "/v2/a/b/tags/list?n=3&last=1.5.0"]


def test_oci_tags_unreachable_is_a_world_error() -> None:
    with requests.Session() as http, pytest.raises(WorldError, match=r"cannot connect to http://127\.0\.0\.1:9"):
        OciRegistry(http, "127.0.0.1:9", insecure=True, timeout=2).tags("a/b")


def test_ecr_tags_of_moto(sandbox) -> None:  # type: ignore[no-untyped-def]
    clients = aws(sandbox.moto_url)
    repository = f"test-{uid()}/app"
    digests = put_ecr_tags(clients, repository, [f"2.{i}.0" for i in range(25)])
    counter = CallCounter().attach(clients.ecr)
    registry = EcrRegistry(clients.ecr)
    assert registry.tags(repository) == digests
    assert counter.calls[("api.ecr", "DescribeImages")] == 1  # moto answers in one page
    assert registry.tags(f"test-{uid()}/none") is None


def test_ecr_tags_follow_next_token_one_call_a_page() -> None:
    """moto never pages DescribeImages: the pages ECR sends are stubbed (botocore's Stubber checks each
    request against ECR's own model)."""
    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    digest = {t: "sha256:" + t[0] * 64 for t in ("a1", "b1", "c1")}
    with Stubber(ecr) as stub:
        base = {"repositoryName": "app/r", "filter": {"tagStatus": "TAGGED"}, "maxResults": 2}
        for tags, token, nxt in ((["a1", "b1"], None, "t1"), (["c1"], "t1", None)):
            details = [{"imageDigest": digest[t], "imageTags": [t]} for t in tags]
            stub.add_response("describe_images", {"imageDetails": details, **({"nextToken": nxt} if nxt else {})},
                              {**base, **({"nextToken": token} if token else {})})  # fmt: skip
        assert EcrRegistry(ecr).tags("app/r", page_size=2) == digest
        stub.assert_no_pending_responses()
