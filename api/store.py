"""The decision store (SQLAlchemy 2): every decision the service makes, append-only from the API.

Tables
------
``requests``   one row per scoring request that produced an answer: idempotency key, hash of the
               request body, the households rejected, versions and time.
``decisions``  one row per scored household: request id, position in the request, pseudonymised
               household id, SHA-256 of the validated input, the input itself (personal fields
               left out, so the decision can be recomputed years later), model and rule-set
               versions, outputs (JSON) and time (UTC).
``api_keys``   hashed API keys with their role (see :mod:`api.security`).

The repository functions below only insert and select decisions and requests; nothing in the
service updates or deletes them. Triggers also make the database itself refuse UPDATE and DELETE
on both tables (SQLite and PostgreSQL; on PostgreSQL also TRUNCATE), raising an integrity error that
says "append-only". A table owner can still drop or disable a trigger, so on PostgreSQL also run the
service as a role that does not own the tables and is granted INSERT and SELECT only.
Tables are made with ``create_all`` at start-up (no Alembic migrations yet: the schema is at its
first version).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

APPEND_ONLY_TABLES = ("requests", "decisions")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: store UTC, read as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the decision store; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class RequestRow(Base):
    __tablename__ = "requests"

    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[str] = mapped_column(String(32))
    n_households: Mapped[int] = mapped_column(Integer)
    n_decisions: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(200))
    ruleset_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_household", "household_pseudonym", "created_at"),
        Index("ix_decisions_request", "request_id", "position"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.request_id"))
    position: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    household_pseudonym: Mapped[str] = mapped_column(String(64))
    input_sha256: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(200))
    ruleset_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(String(64))
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    salt: Mapped[str] = mapped_column(String(64))
    scheme: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# ---- engine ----------------------------------------------------------------------------------------


def make_engine(url: str) -> Engine:
    """An engine for the store, with its tables created (SQLite: WAL journal, foreign keys on)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    Base.metadata.create_all(engine)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            for table in APPEND_ONLY_TABLES:
                for action in ("UPDATE", "DELETE"):
                    conn.execute(text(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
                        f"BEFORE {action} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                    ))
    elif engine.dialect.name == "postgresql":
        _postgres_append_only(engine)
    return engine


# An arbitrary constant: serialises the trigger DDL of service processes starting at the same time.
_PG_DDL_LOCK = 7_201_042_611

_PG_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION targeting_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$fn$
"""


def _postgres_append_only(engine: Engine) -> None:
    """The PostgreSQL twin of the SQLite triggers: UPDATE, DELETE and TRUNCATE raise.

    Idempotent, and creates only what is missing, so a service role that owns neither the tables
    nor the function (INSERT and SELECT only) still starts once an owner has created them.
    """
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_DDL_LOCK})
        if conn.execute(text("SELECT to_regprocedure('targeting_append_only()')")).scalar() is None:
            conn.execute(text(_PG_APPEND_ONLY_FUNCTION))
        for table in APPEND_ONLY_TABLES:
            existing = set(conn.scalars(
                text("SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:table AS regclass)"),
                {"table": table},
            ))
            # TRUNCATE bypasses row triggers, so it gets a statement-level one of its own.
            for action, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
                name = f"{table}_no_{action.lower()}"
                if name not in existing:
                    conn.execute(text(
                        f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                        f"FOR EACH {level} EXECUTE FUNCTION targeting_append_only()"
                    ))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not reachable"; /ready reports it, never raises
        return False
    return True


# ---- decisions and requests (insert and select only) ---------------------------------------------


def find_request(session: Session, idempotency_key: str) -> RequestRow | None:
    return session.scalars(select(RequestRow).where(RequestRow.idempotency_key == idempotency_key)).first()


def save_request(session: Session, request: RequestRow, decisions: Sequence[dict[str, Any]]) -> None:
    """Insert a request and its decisions in one transaction (raises IntegrityError on a key race).

    The decisions go in as one Core multi-row insert on the session's connection (the driver's
    executemany, batched by SQLAlchemy's insertmanyvalues): the ORM's bulk path would build and track
    state for each row first, which cost a 1,000-household request about a third of its store time.
    Column types (UTC datetimes, JSON) still apply.
    """
    from typing import cast

    from sqlalchemy import Table, insert

    session.add(request)
    session.flush()
    if decisions:
        session.execute(insert(cast(Table, DecisionRow.__table__)), list(decisions))
    session.commit()


def request_decisions(session: Session, request_id: str) -> list[DecisionRow]:
    """The decisions of one request, in request order."""
    stmt = select(DecisionRow).where(DecisionRow.request_id == request_id).order_by(DecisionRow.position)
    return list(session.scalars(stmt))


def household_history(session: Session, pseudonym: str, *, limit: int = 1000) -> list[DecisionRow]:
    """Every decision about one household, oldest first."""
    stmt = (
        select(DecisionRow)
        .where(DecisionRow.household_pseudonym == pseudonym)
        .order_by(DecisionRow.created_at, DecisionRow.request_id, DecisionRow.position)
        .limit(limit)
    )
    return list(session.scalars(stmt))


# ---- API keys (the CLI creates and revokes; the service only reads) ------------------------------


def add_api_key(session: Session, row: ApiKeyRow) -> None:
    session.add(row)
    session.commit()


def get_api_key(session: Session, key_id: str) -> ApiKeyRow | None:
    return session.get(ApiKeyRow, key_id)


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))


def revoke_api_key(session: Session, key_id: str) -> bool:
    """Mark a key revoked (CLI only); False if there is no such key."""
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        return False
    row.revoked = True
    row.revoked_at = utc_now()
    session.commit()
    return True
