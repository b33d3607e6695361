"""The sandbox's fleet: EC2 instances of an Auto Scaling group, each a real Docker engine reached over ssh.

moto runs the Auto Scaling group, its instances, the target group and the
alarms, but no machine behind them. The fleet gives every instance moto runs
an engine of its own, as a real instance has: a network namespace carrying
the instance's private IP (a veth on the sandbox's bridge ``rcfleet0``), with
``sshd`` and ``dockerd`` inside, reached as ``ssh://root@<privateIp>``; and
puts a real load balancer (HAProxy on loopback) behind the target group.

Modules:

- :mod:`.layout`: addresses, names and paths (pure);
- :mod:`.keys`: the sandbox's ssh key pair, host key, known_hosts and ssh client configuration;
- :mod:`.netns`: the bridge, namespaces and veth pairs (``ip``);
- :mod:`.instance`: one instance's engine: its namespace, sshd, dockerd and registry forwarder;
- :mod:`.aws`: what terraform would have made in moto (VPC, subnet, launch template, group,
  target group, load balancer, listener, alarms), and reading the group back;
- :mod:`.haproxy`: HAProxy, its configuration and its runtime API;
- :mod:`.balancer`: the load balancer following the target group's registrations;
- :mod:`.followed`: what a load balancer declares it follows (for the AWS front);
- :mod:`.target_health`: DescribeTargetHealth as HAProxy sees each target (pure);
- :mod:`.agent`: the process that converges engines and the balancer to what moto says;
- :mod:`.lifecycle`: ``up``, ``down`` and ``status`` of the fleet.
"""
