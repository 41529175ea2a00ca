"""A private local Ray instance: every server it starts (GCS, raylet, workers, agents) listens on
127.0.0.1 only, never on the machine's other interfaces.

``ray.init(_node_ip_address="127.0.0.1")`` is not enough: Ray replaces a loopback node address by the
machine's reachable one unless clusters are disabled (its ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` switch,
read once when Ray is imported), and its servers bind the node address. :func:`loopback_only` disables
clusters while a local instance starts, so the node address, and with it every listening socket, is
127.0.0.1. Attaching to a cluster (an address) is not affected.

Example::

    init_local_ray(num_cpus=2, namespace="symoe")   # ss -ltn: only 127.0.0.1 ports
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from common.settings import restore_env

CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch for multi-node clusters; 0 makes a node's address the loopback one."""


@contextmanager
def loopback_only() -> Iterator[None]:
    """While inside, a Ray node started by this process (or its children) gets the address 127.0.0.1."""
    from ray._private import ray_constants  # the flag Ray read from the switch at import

    saved_flag, saved_env = ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(CLUSTER_SWITCH)
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ[CLUSTER_SWITCH] = "0"
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        restore_env(CLUSTER_SWITCH, saved_env)


def init_local_ray(**kwargs: Any) -> None:
    """Start and connect to a new local Ray listening on 127.0.0.1 only, without a dashboard.

    Args:
        kwargs: more ``ray.init`` arguments (``num_cpus``, ``num_gpus``, ``resources``, ``namespace``).
    """
    import ray

    from batching.engines.cpu_threads import passive_openmp

    passive_openmp()  # workers inherit this process's environment: their OpenMP threads sleep when idle
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # the embedded instance is private to this process
    with loopback_only():
        ray.init(address="local", include_dashboard=False, **kwargs)
