"""The status page of a real `reconciler run --listen` over a real git repository, read by a real browser
(headless chromium through Selenium) while the loop works on the sandbox's fleet: a pushed commit
whose image tag does not exist shows as a failed revision (its hostile subject shown as text, never as
markup); the next commit rolls out batch by batch (a 30 s bake keeps the rollout in view) and the page
shows the batch, the instance and the step. /api/status matches its schema meanwhile, and neither it nor
the page holds a secret. Screenshots are kept (see tests/browser.py for where)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest
from browser import artifacts_dir, chromium, full_screenshot
from selenium.webdriver.common.by import By
from serve.pagekit import schema_errors

from e2e.gitops import git
from e2e.rollout.kit import SECRET, Deployed, commit, make_repo, read_until, set_tag, start

HOSTILE = 'frontend 9.9.9 <img src=x onerror="alert(1)"><script>alert(2)</script>'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/api/status", timeout=10) as answer:
        data = json.loads(answer.read())
    assert isinstance(data, dict)
    return data


def labels(driver: Any, css: str) -> dict[str, str]:
    """``<dt>`` label -> its ``<dd>`` text, in the definition list ``css``."""
    found = driver.find_element(By.CSS_SELECTOR, css)
    terms = [e.text.strip() for e in found.find_elements(By.TAG_NAME, "dt")]
    values = [e.text.strip() for e in found.find_elements(By.TAG_NAME, "dd")]
    return dict(zip(terms, values, strict=True))


def no_secret(text: str, secrets: list[str]) -> None:
    leaked = [s[:4] + "..." for s in secrets if s in text]
    assert not leaked, f"secret values on the page or in the JSON: {leaked}"


def set_bake(env_dir: Path, bake: str) -> None:
    path = env_dir / "environment.yaml"
    text, count = re.subn(r"(\n\s+bake: )\S+", rf"\g<1>{bake}", path.read_text())
    assert count == 1, path.read_text()
    path.write_text(text)


def test_the_page_shows_a_failed_revision_and_a_rollout_in_progress(
    prod: Deployed, fleet: dict[str, docker.APIClient], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = artifacts_dir()
    with capsys.disabled():
        print(f"\n  status page screenshots: {shots}")
    clone = make_repo(prod.env, tmp_path / "git")
    env_dir = clone / "environments" / "prod"
    secrets = [*SECRET.values(), *prod.env.secrets.values()]
    url = f"http://127.0.0.1:{free_port()}"
    loop = start("run", "--repo", str(clone.parent / "remote.git"), "--path", "environments/prod", "--sandbox",
                 "--state-dir", str(prod.env.state_dir), "--interval", "10m", "--log-format", "text",
                 "--listen", url.removeprefix("http://"), stdout=tmp_path / "loop.out")  # fmt: skip
    lines: list[str] = []
    try:
        lines += read_until(loop, r"^tick 1 .*: no-change", timeout=180)

        set_tag(env_dir, "frontend", "9.9.9-missing")
        bad = commit(clone, HOSTILE)
        lines += read_until(loop, r"^tick 2 .*: failed", timeout=180)
        with chromium(tmp_path / "profile") as driver:
            driver.get(url + "/")
            assert driver.find_element(By.TAG_NAME, "h1").text == "Reconciler status"
            heading = driver.find_element(By.CSS_SELECTOR, "section.environment h2").text
            assert heading.startswith(f"Environment {prod.env.copy.environment}")
            h3 = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "section.environment h3")]
            assert h3 == ["Conditions", "Revisions", "In progress", "Hosts and stacks", "Last plan", "History"]
            revisions = labels(driver, "dl.revisions")
            assert bad[:12] in revisions["Failed revisions"] and bad[:12] in revisions["Attempted"]
            assert HOSTILE in revisions["Attempted"]  # the subject as text
            assert driver.find_elements(By.CSS_SELECTOR, "img, script") == []  # never as markup
            first = driver.find_element(By.CSS_SELECTOR, "table.history tbody tr")
            assert "result-failed" in (first.get_attribute("class") or "") and bad[:12] in first.text
            assert "9.9.9-missing" in driver.find_element(By.TAG_NAME, "main").text  # the error, as the plan said
            full_screenshot(driver, shots / "failed-revision.png")
            no_secret(driver.page_source, secrets)

            set_tag(env_dir, "frontend", prod.new)
            set_bake(env_dir, "30s")
            good = commit(clone, f"frontend {prod.new}")
            seen: list[dict[str, str]] = []
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                driver.get(url + "/")
                if driver.find_elements(By.CSS_SELECTOR, "dl.rollout-steps"):
                    steps = labels(driver, "dl.rollout-steps")
                    seen.append(steps)
                    if steps["Batch"][:1].isdigit() and steps["Instances"] != "-":
                        break
                time.sleep(0.3)
            assert seen, "the page never showed a rollout in progress:\n" + "\n".join(lines)
            steps = seen[-1]
            assert steps["Fleet"] == "web" and steps["Batch"][:1] in ("1", "2"), seen
            assert steps["Instances"] in fleet and steps["Step"], seen
            assert driver.find_element(By.CSS_SELECTOR, "div.rollout h4").text == "Rollout in progress"
            progress = labels(driver, "dl.progress")
            assert progress["Phase"].startswith("applying") and good[:12] in progress["Phase"]
            full_screenshot(driver, shots / "rollout-in-progress.png")
            no_secret(driver.page_source, secrets)
            document = api(url)
            assert schema_errors(document) == []
            no_secret(json.dumps(document), secrets)
            [env] = document["environments"]
            assert env["progress"]["revision"] == good and env["progress"]["rollout"]["fleet"] == "web"
            assert [e["revision"]["sha"] for e in env["history"][:1]] == [bad]

        lines += read_until(loop, r"^tick 3 .*: applied", timeout=300)  # the rollout ends: the fleet as found
        after = api(url)
        [env] = after["environments"]
        assert env["progress"]["phase"] == "idle" and env["last_applied"]["sha"] == good
        assert env["sync"] == "Synced" and schema_errors(after) == []
        assert git(clone, "rev-parse", "HEAD") == good
    finally:
        if loop.poll() is None:
            loop.send_signal(signal.SIGTERM)
        try:
            loop.wait(timeout=120)
        except subprocess.TimeoutExpired:
            loop.kill()
            loop.wait(timeout=30)
        if loop.stderr is not None:
            loop.stderr.close()
