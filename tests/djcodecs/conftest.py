"""Real databases for the DataJoint codec tests.

PostgreSQL always: a real server from the ``pgserver`` pip package, data directory in a temporary folder.
MariaDB/MySQL: the server ``scripts/start_mariadb.sh`` starts on 127.0.0.1:3306 with user ``zarrbridge`` and
password ``zarrbridge-test`` (override with ZB_MYSQL_USER / ZB_MYSQL_PASSWORD / ZB_MYSQL_HOST /
ZB_MYSQL_PORT); the mysql-marked tests are skipped only when nothing answers there.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

dj = pytest.importorskip("datajoint")

MYSQL_HOST = os.environ.get("ZB_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("ZB_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("ZB_MYSQL_USER", "zarrbridge")
MYSQL_PASSWORD = os.environ.get("ZB_MYSQL_PASSWORD", "zarrbridge-test")


@dataclass(frozen=True)
class Database:
    """How to reach one real database server."""

    backend: str
    host: str
    user: str
    password: str
    port: int

    def instance(self, stores: dict[str, Any], **overrides: Any) -> Any:
        """A ``dj.Instance`` (own config and connection) with ``stores`` configured."""
        with warnings.catch_warnings():
            # CI runs MariaDB from Debian packages on purpose; DataJoint warns it is best-effort there
            warnings.filterwarnings(
                "ignore", message="MariaDB is not officially supported", category=UserWarning
            )
            inst = dj.Instance(
                host=self.host,
                user=self.user,
                password=self.password,
                port=self.port,
                backend=self.backend,
                **overrides,
            )
        inst.config.safemode = False
        inst.config.stores = stores
        return inst


@pytest.fixture(scope="session")
def postgres() -> Iterator[Database]:
    """A real PostgreSQL server (pgserver) for the whole session."""
    # pgserver runs postgres as an unprivileged user when started as root: its folder must be reachable
    root = tempfile.mkdtemp(prefix="zb-pg-")
    os.chmod(root, 0o755)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # platformdirs, harmless
        import pgserver

        server = pgserver.get_server(Path(root) / "data", cleanup_mode="stop")
    try:
        yield Database("postgresql", str(Path(root) / "data"), "postgres", "", 5432)
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mysql() -> Database:
    """The MariaDB/MySQL server on 127.0.0.1:3306, or a skip when none is reachable."""
    try:
        with socket.create_connection((MYSQL_HOST, MYSQL_PORT), timeout=1):
            pass
    except OSError:
        pytest.skip(
            f"no MariaDB/MySQL server at {MYSQL_HOST}:{MYSQL_PORT}; run scripts/start_mariadb.sh as root"
        )
    import pymysql

    pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD).close()
    return Database("mysql", MYSQL_HOST, MYSQL_USER, MYSQL_PASSWORD, MYSQL_PORT)


@pytest.fixture(params=["postgresql", pytest.param("mysql", marks=pytest.mark.mysql)])
def database(request: pytest.FixtureRequest) -> Database:
    """Each real database backend in turn."""
    return request.getfixturevalue("postgres" if request.param == "postgresql" else "mysql")  # type: ignore[no-any-return]


@pytest.fixture()
def store_dir(tmp_path: Path) -> Path:
    """An empty folder for a ``file`` store."""
    path = tmp_path / "store"
    path.mkdir()
    return path


@pytest.fixture()
def s3_store(s3_endpoint: str, s3_bucket: str, s3_storage_options: dict[str, Any]) -> dict[str, Any]:
    """An ``s3`` store spec exactly as DataJoint documents it (host:port endpoint), pointing at moto."""
    return {
        "protocol": "s3",
        "endpoint": s3_endpoint.removeprefix("http://"),
        "bucket": s3_bucket,
        "location": "dj",
        "access_key": s3_storage_options["key"],
        "secret_key": s3_storage_options["secret"],
        "secure": False,
    }


@pytest.fixture()
def make_schema() -> Iterator[Callable[..., Any]]:
    """Create uniquely named schemas on an instance; drop them at the end."""
    made: list[Any] = []

    def make(inst: Any) -> Any:
        schema = inst.Schema(f"zbt_{uuid.uuid4().hex[:10]}")
        made.append(schema)
        return schema

    yield make
    for schema in reversed(made):
        schema.drop(prompt=False)


def declare_recording(schema: Any, store: str = "main", codec: str = "zarr") -> Any:
    """The seed document's table, on ``schema``."""

    class Recording(dj.Manual):
        definition = f"""
        recording_id : int32
        ---
        waveform : <{codec}@{store}>
        """

    return schema(Recording)


def stored_files(root: Path) -> list[str]:
    """Every file under ``root``, relative, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def array_dirs(root: Path) -> list[str]:
    """The ``*.zarr`` folders under ``root``, relative, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.zarr") if p.is_dir())
