"""The store on PostgreSQL (psycopg 3, the ``genai-cost[postgres]`` extra): opening a connection.

Everything else (schema, migrations, report SQL) is the SQLite store's, through ``dialect.POSTGRES``.
Connections are in autocommit mode, with transactions begun explicitly as on SQLite. The URL's
password never appears in a message: ``dialect.display`` shows where the store is.
"""

from __future__ import annotations

from typing import Any

from genai_cost.store.dialect import POSTGRES, Dialect, display
from genai_cost.store.errors import StoreError, StoreMissingError
from genai_cost.store.migrations import applied_migrations, migrate

CONNECT_TIMEOUT_S = 5  # the writer's thread waits this long for a server that does not answer


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError("a PostgreSQL store needs psycopg 3: pip install 'genai-cost[postgres]'") from None
    return psycopg


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """What the driver raises when the server is down, restarting or unreachable."""
    psycopg = _psycopg()
    return (psycopg.OperationalError, psycopg.InterfaceError)


def open_store(url: str, *, readonly: bool = False) -> tuple[Any, str, Dialect, tuple[type[Exception], ...]]:
    """Connect and migrate; the arguments of ``UsageStore``. Raises StoreError with the URL shown
    without its password."""
    psycopg = _psycopg()
    where = display(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to the store at {where}: {_first_line(exc)}") from None
    try:
        if readonly and not applied_migrations(conn, POSTGRES):  # reading never creates a store
            raise StoreMissingError(
                "no usage recorded yet: run your app with OTEL_TRACES_EXPORTER=genai_cost and "
                "OTEL_INSTRUMENTATION_GENAI_COST_DB set to this database"
            )
        migrate(conn, POSTGRES)
    except StoreError as exc:
        conn.close()
        raise type(exc)(f"{where}: {exc}") from None
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(f"cannot open the store at {where}: {_first_line(exc)}") from None
    except BaseException:
        conn.close()
        raise
    return conn, where, POSTGRES, (UnicodeEncodeError, psycopg.DataError)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
