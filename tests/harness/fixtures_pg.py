"""pytest plugin: a session-wide private PostgreSQL cluster with the schema
applied. Enable with `pytest_plugins = ["harness.fixtures_pg"]` in
conftest.py, or `pytest -p harness.fixtures_pg`."""

import os
import shutil
import tempfile
from contextlib import contextmanager

import pytest

from harness.pg import PgCluster


@contextmanager
def migrated_cluster(prefix="jklg-pg-"):
    """A running PgCluster in a new temporary directory, with role and
    database `jklg` (owner of the schema, as the module connects) and every
    migration applied; stopped and removed afterwards."""
    base_dir = tempfile.mkdtemp(prefix=prefix)
    # The server runs as the postgres user when the tests run as root.
    os.chmod(base_dir, 0o755)
    cluster = PgCluster(base_dir)
    try:
        cluster.init()
        cluster.start()
        cluster.ensure_app_db()
        cluster.migrate()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    """The session's cluster, shared by every test."""
    with migrated_cluster() as cluster:
        yield cluster
