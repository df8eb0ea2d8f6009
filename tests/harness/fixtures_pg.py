"""pytest plugin: a session-wide private PostgreSQL cluster with the schema
applied. Enable with `pytest_plugins = ["harness.fixtures_pg"]` in
conftest.py, or `pytest -p harness.fixtures_pg`."""

import os
import shutil
import tempfile

import pytest

from harness.pg import PgCluster


@pytest.fixture(scope="session")
def pg():
    """A running PgCluster with role and database `jklg` (owner of the
    schema, as the module connects) and every migration applied."""
    base_dir = tempfile.mkdtemp(prefix="jklg-pg-")
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
