"""The sandbox's Auto Scaling: what AWS's groups do by themselves where moto does not (lifecycle hooks,
launch template versions per instance, replacement of Unhealthy instances, target groups left on
termination), run by the AWS front. Does I/O (:mod:`.service`, :mod:`.groups`); the rest is pure."""
