"""A throwaway PostgreSQL server for tests: initdb in a temporary directory, started on 127.0.0.1 on a
free port with trust authentication, stopped and removed afterwards. PostgreSQL refuses to run as
root, so under root it runs as the ``postgres`` system user (Debian's package creates it)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    assert found, f"{name} not found: apt-get install postgresql"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="genai-cost-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.url = f"postgresql://genai@127.0.0.1:{self.port}/postgres"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        command = list(args) if self._user is None else ["runuser", "-u", self._user, "--", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def __enter__(self) -> PostgresServer:
        self._run(
            _bin("initdb"), "-D", str(self.data), "-U", "genai", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
