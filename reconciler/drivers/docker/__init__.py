"""The Docker engine drivers: the client and its errors, listing, the engine's operations. Does I/O.

:mod:`.client` connects and translates failures (and counts calls);
:mod:`.listing` is the observers' read of Compose resources; :mod:`.engine`
is :class:`~reconciler.drivers.docker.engine.DockerEngine`, what the executor
does to an engine. Compose itself runs as a subprocess: :mod:`reconciler.drivers.compose`.
"""
