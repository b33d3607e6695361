"""Generated environments: N parameters, S services, the demo images (for scale, calls and nochange)."""

from __future__ import annotations

from pathlib import Path

from reconciler.sandbox.lifecycle import SandboxInfo

IMAGES = {"frontend": ("popcon/frontend", "1.5.0"), "backend": ("popcon/backend", "2.2.0"),
          "mysql": ("popcon/mysql", "8.0"), "redis": ("popcon/redis", "7.2")}


def write_environment(root: Path, sandbox: SandboxInfo, uid: str, n: int, services: int) -> None:
    prefix = f"/bench-{uid}/app"
    root.mkdir(parents=True)
    (root / "environment.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: bench{n}}}\n"
        f"spec:\n  aws: {{region: {sandbox.region}, endpointUrl: '{sandbox.moto_url}'}}\n"
        f"  parameterPrefix: {prefix}\n"
        f"  registry: {{type: oci, url: '{sandbox.registry}', insecure: true}}\n"
        f"  ownership: bench-{uid}\n"
    )
    params = "".join(f"    P{i:05d}: value-{i}\n" for i in range(n))
    (root / "parameters.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ParameterSet\nmetadata: {name: config}\n"
        f"spec:\n  path: {prefix}\n  prune: true\n  parameters:\n{params}"
    )
    images = "".join(f"    {k}: {{repository: {r}, tag: '{t}'}}\n" for k, (r, t) in IMAGES.items())
    (root / "images.yaml").write_text(
        f"apiVersion: reconciler.dev/v1alpha1\nkind: Images\nmetadata: {{name: images}}\nspec:\n  images:\n{images}"
    )
    names = [f"svc{i:02d}" for i in range(services)]
    kinds = list(IMAGES)
    stack_services = "".join(f"    {s}: {{image: {kinds[i % len(kinds)]}}}\n" for i, s in enumerate(names))
    (root / "stack.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ComposeStack\nmetadata: {name: app}\n"
        f"spec:\n  composeFile: docker-compose.yml\n  project: bench-{uid}\n  parameterSets: [config]\n"
        f"  services:\n{stack_services}"
    )
    compose = "services:\n"
    for i, s in enumerate(names):
        compose += (
            f"  {s}:\n    image: placeholder\n    stop_grace_period: 1s\n"
            f"    environment:\n      SETTING_A: ${{P{i % n:05d}}}\n      SETTING_B: ${{P{(i * 7) % n:05d}}}\n"
        )
    (root / "docker-compose.yml").write_text(compose)


