"""Image registries: tag -> digest on an OCI registry or ECR, and pull credentials. Does I/O.

Two resolvers share one shape, ``resolve(repository, tags) -> {tag: digest}``
(a tag or repository that does not exist is simply absent, never an error):
:class:`~reconciler.drivers.registry.oci.OciRegistry` over the distribution
HTTP API (:mod:`.oci`) and :class:`~reconciler.drivers.registry.ecr.EcrRegistry`
over ECR's API (:mod:`.ecr`, which also logs in). :mod:`.auth` holds the pull
credentials and keeps them until shortly before they expire.
"""
