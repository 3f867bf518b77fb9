"""A real PostgreSQL server for the tests, from Debian's packages, started here and nowhere else.

``initdb`` in a temporary directory, listening on 127.0.0.1 on a free port, password authentication
(so the tests can check that no password reaches a message). PostgreSQL refuses to run as root: when
the tests run as root, the server runs as the ``postgres`` user the package creates (``runuser``).
Missing binaries fail the test with the command that installs them (``collector/install-deps.sh``
does, for scripts/test.sh).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack import StackError, free_port, wait_for

USER = "genai"
PASSWORD = "s3cret-pw-for-tests"
START_TIMEOUT_S = 60


def bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise StackError(
            "PostgreSQL is not installed: run collector/install-deps.sh (apt-get install postgresql)"
        )
    return found[-1].parent


class PostgresServer:
    def __init__(self, root: Path) -> None:
        self.bin = bin_dir()
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/genai_cost"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S, cwd=self.root)
        if check and done.returncode != 0:
            raise StackError(f"{args[0]} failed ({done.returncode}): {done.stderr}\n{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no server log)"

    def init(self) -> None:
        if self._as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o700)
        password_file = self.root / "pw"
        password_file.write_text(PASSWORD + "\n")
        if self._as_root:
            os.chown(password_file, pwd.getpwnam("postgres").pw_uid, -1)
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, f"--pwfile={password_file}", "--auth=scram-sha-256",
            "--locale=C.UTF-8", "--encoding=UTF8",
        )  # fmt: skip
        password_file.unlink()
        self.start()
        self.psql("CREATE DATABASE genai_cost", database="postgres")

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=50"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        wait_for(self.ready, START_TIMEOUT_S, "PostgreSQL to accept connections")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def ready(self) -> bool:
        done = self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False)
        return done.returncode == 0

    def psql(self, sql: str, database: str = "genai_cost") -> str:
        import psycopg

        url = self.url.rsplit("/", 1)[0] + "/" + database
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return "" if cursor.description is None else "\n".join("|".join(map(str, r)) for r in cursor)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="genai-cost-pg-"))
    server = PostgresServer(root)
    try:
        server.init()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
