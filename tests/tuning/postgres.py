"""A throw-away PostgreSQL server for tests: initdb into a temporary folder, `postgres` on a free loopback port.

The server binaries come from Debian's `postgresql` package (.ci/postgres.sh installs it), which puts them in
/usr/lib/postgresql/<version>/bin rather than on PATH. PostgreSQL refuses to run as root, so as root the
folder is handed to the unprivileged `nobody` and the server runs as that user (runuser).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(timeout: float = 60.0) -> Iterator[str]:
    """Start a server, yield its SQLAlchemy URL (psycopg 3 driver), stop it and delete its files."""
    initdb, postgres = find_binary("initdb"), find_binary("postgres")
    if initdb is None or postgres is None:
        raise FileNotFoundError("initdb/postgres not found (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="lab-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = folder / "data", free_port()
    log = (folder / "server.log").open("w")
    server = None
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=folder,
        )
        options = ["-h", "127.0.0.1", "-p", str(port), "-k", str(folder), "-c", "fsync=off"]
        server = subprocess.Popen(
            [*as_user, postgres, "-D", str(data), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start: {(folder / 'server.log').read_text()}") from None
                time.sleep(0.2)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if server is not None:
            server.terminate()  # smart shutdown; the clients are gone by now
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
