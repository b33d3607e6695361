"""The embedded sandbox, a development tool: Docker engines, a local registry and moto, on loopback.

It stands in for AWS, ECR and the EC2 hosts so that any environment can be
planned and applied on one machine. The reconciler itself does not know it:
``--sandbox`` on the command line is shorthand for ordinary overrides (an AWS
endpoint, the Docker engines of the hosts in order, a plain-HTTP registry)
that :func:`.layout.overrides` computes without I/O; ``reconciler sandbox
up|down|status`` runs :mod:`.lifecycle`.

Engines ("hosts"): ``host-0`` is the main engine (``$DOCKER_HOST``, else
``unix:///var/run/docker.sock``); ``host-1``, ``host-2``... are extra dockerd
daemons the sandbox starts (as root) with fixed, machine-wide paths
(:class:`.layout.EngineDaemon`): socket
``unix:///run/reconciler-sandbox/host-<i>/docker.sock``, exec root and pidfile
beside it, data root ``/var/lib/reconciler-sandbox/host-<i>``, bridge
``rcsb<i>`` at ``10.<200+i>.0.1/24`` and networks from ``10.<200+i>.16.0/20``.
RECONCILER_SANDBOX_ENGINES sets how many engines in all (default 3, at least
1: the main engine alone). The state dir that started an extra engine records
it (``<state dir>/host-<i>.pid``, log ``host-<i>.log``) and only its ``down``
stops it. Ports: the AWS endpoint 4566 (the AWS front, moto behind it on
4567) and registry 5000, overridable with RECONCILER_SANDBOX_MOTO_PORT,
RECONCILER_SANDBOX_MOTO_INTERNAL_PORT and RECONCILER_SANDBOX_REGISTRY_PORT;
the state dir defaults to ``./.sandbox`` (RECONCILER_SANDBOX_DIR).

Modules, by what they run:

- :mod:`.layout`: ports, engines, endpoints and the overrides (pure, standard library only);
- :mod:`.lifecycle`: ``up``, ``down``, ``status`` (orders the steps below);
- :mod:`.processes`: pidfiles, spawning, stopping, waiting (any daemon);
- :mod:`.engines`: the main Docker engine and the extra dockerd daemons;
- :mod:`.network`: the extra engines' bridges, routes and iptables rules;
- :mod:`.compose_plugin`: the ``docker compose`` CLI plugin;
- :mod:`.registry`: the local registry, its HTTP API, publishing images;
- :mod:`.images`: the demo images, built in memory;
- :mod:`.moto`: the moto server behind the AWS front, and the AWS clients on it;
- :mod:`.front`: the AWS endpoint: every request forwarded to moto, target
  health as the sandbox's load balancers see it;
- :mod:`.asg`: what AWS's Auto Scaling groups do by themselves and moto does
  not (launch hooks and Pending:Wait, per-instance launch template versions,
  Unhealthy replacement, target groups left on termination), run by the front;
- :mod:`.seed`: what terraform would have created, put in moto;
- :mod:`.fleet`: production's Auto Scaling group for real: an engine per
  instance (a network namespace with sshd and dockerd, ``ssh://root@<ip>``),
  the group, target group, load balancer and alarms in moto, HAProxy on
  ``127.0.0.1:8080`` following the target group, and the agent that keeps
  them converged (RECONCILER_SANDBOX_FLEET=0 leaves it out).

A newly simulated service is a module of its own: its daemon (a
:class:`.processes.Daemon`) or its seeding on moto, and one step in
:mod:`.lifecycle`.

Nothing is imported here, so ``import reconciler.sandbox.layout`` stays cheap.
"""
