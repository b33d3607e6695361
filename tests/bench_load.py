"""Benchmark: CPU time to load and validate a large environment, in-process (no sandbox). Not a test.

Writes a generated environment (the shape of tests/bench.py: one ParameterSet of N
parameters, one Images document, one ComposeStack of S services and its compose
file), then times ``build_desired(load_environment(dir), ...)``, what
``reconciler validate`` does before it hands the compose files to Compose.

    python -m tests.bench_load [--parameters 10000] [--services 300] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

IMAGES = {"frontend": ("popcon/frontend", "1.5.0"), "backend": ("popcon/backend", "2.2.0"),
          "mysql": ("popcon/mysql", "8.0"), "redis": ("popcon/redis", "7.2")}


def write_environment(root: Path, n: int, services: int) -> None:
    """The environment tests/bench.py writes, with fixed sandbox endpoints."""
    prefix = "/bench/app"
    root.mkdir(parents=True)
    (root / "environment.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: bench{n}}}\n"
        "spec:\n  aws: {region: ap-northeast-2, endpointUrl: 'http://127.0.0.1:4566'}\n"
        f"  parameterPrefix: {prefix}\n"
        "  registry: {type: oci, url: '127.0.0.1:5000', insecure: true}\n"
        "  ownership: bench\n"
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
    names = [f"svc{i:03d}" for i in range(services)]
    kinds = list(IMAGES)
    stack_services = "".join(f"    {s}: {{image: {kinds[i % len(kinds)]}}}\n" for i, s in enumerate(names))
    (root / "stack.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ComposeStack\nmetadata: {name: app}\n"
        "spec:\n  composeFile: docker-compose.yml\n  project: bench\n  parameterSets: [config]\n"
        f"  services:\n{stack_services}"
    )
    compose = "services:\n"
    for i, s in enumerate(names):
        compose += (
            f"  {s}:\n    image: placeholder\n    stop_grace_period: 1s\n"
            f"    environment:\n      SETTING_A: ${{P{i % n:05d}}}\n      SETTING_B: ${{P{(i * 7) % n:05d}}}\n"
        )
    (root / "docker-compose.yml").write_text(compose)


def load(env_dir: Path) -> None:
    build_desired(load_environment(env_dir), lambda _name: "(unchecked)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameters", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of one run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "bench"
        write_environment(env_dir, args.parameters, args.services)
        load(env_dir)  # warm: imports, regex caches
        cpu = []
        for _ in range(args.repeat):
            start = time.process_time()
            load(env_dir)
            cpu.append(time.process_time() - start)
        print(f"{args.parameters} parameters, {args.services} services: load+validate CPU "
              f"min {min(cpu):.3f} s, median {statistics.median(cpu):.3f} s ({args.repeat} runs)")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(load, env_dir)
            pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
