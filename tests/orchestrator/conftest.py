"""Fixtures of the orchestrator tests: one real local Ray for the whole session (marker ``ray``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.ray.slots import MEMORY_RESOURCE


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One Ray for the session: a head node with 2 CPUs, 1 fake GPU and 1 GiB of GPU-memory resource."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from orchestrator.local_ray import loopback_only

    with loopback_only():  # every server of the test cluster listens on 127.0.0.1 only
        cluster = Cluster(
            initialize_head=True,
            connect=True,
            head_node_args={
                "num_cpus": 2,
                "num_gpus": 1,
                "resources": {MEMORY_RESOURCE: 1.0},
                "include_dashboard": False,
            },
        )
    yield cluster
    ray.shutdown()
    cluster.shutdown()
