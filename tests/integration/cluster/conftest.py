"""A 3-node NATS cluster and a fresh PostgreSQL database for the fault tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import drop_pg_database, new_pg_database
from tests.integration.cluster.cluster_harness import Harness

from concord.services.cluster import NatsCluster


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path_factory.mktemp("nats"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_db(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A fresh database per test (a region's warm start reads every stored observation of its band),
    its schema and keys prepared once before the workers start (as ``concord cluster up`` does)."""
    name, url = new_pg_database(pg_server)
    data_dir = tmp_path_factory.mktemp("var")
    env = {**os.environ, "CONCORD_DATABASE_URL": url, "CONCORD_DATA_DIR": str(data_dir), "CONCORD_ENV": "dev"}
    cmd = [sys.executable, "-c", "from concord.entrypoints.cli import main; main()", "db", "upgrade"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield url, data_dir
    finally:
        drop_pg_database(pg_server, name)


@pytest.fixture
def harness(nats_cluster: NatsCluster, cluster_db: tuple[str, Path], tmp_path: Path) -> Iterator[Harness]:
    url, data_dir = cluster_db
    tag = uuid.uuid4().hex[:6]
    # Fresh region names per test: their subjects, durable consumers and leases start empty.
    h = Harness(
        nats=nats_cluster,
        database_url=url,
        data_dir=data_dir,
        log_dir=tmp_path / "logs",
        partitions=f"w{tag}:-180:26.7,e{tag}:26.7:180",
    )
    try:
        yield h
    finally:
        h.stop_all()
