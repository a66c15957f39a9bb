"""The decision store (SQLAlchemy 2): every decision the service makes, append-only from the API.

Tables
------
``requests``   one row per scoring request that produced an answer: idempotency key, hash of the
               request body, the households rejected, versions and time.
``decisions``  one row per scored household: request id, position in the request, pseudonymised
               household id, SHA-256 of the validated input, the input itself (personal fields
               left out, so the decision can be recomputed years later), model and rule-set
               versions, outputs (JSON) and time (UTC).
``grievances`` one row per correction a household or officer filed (sanggahan): the decision it
               revisits, the re-scored decision (none when the correction changes no indicator),
               who reported it, when, the evidence reference, what changed and why the outcome
               changed or did not (JSON).
``api_keys``   hashed API keys with their role (see :mod:`api.security`).
``pseudonym_keys``  fingerprints of the pseudonymisation keys the decisions were made with, in
               order (`targeting.privacy`): the service refuses to start with another key, so a lost
               or swapped key file cannot silently orphan every household's history.

A SQLite store file is created 0600 (its journal files inherit that mode): it holds decision
inputs, which are personal data even without NIK.

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

APPEND_ONLY_TABLES = ("requests", "decisions", "pseudonym_keys", "grievances")


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


class GrievanceRow(Base):
    __tablename__ = "grievances"
    __table_args__ = (Index("ix_grievances_household", "household_pseudonym", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.request_id"))
    household_pseudonym: Mapped[str] = mapped_column(String(64))
    revisits_decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"))
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    upheld: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(String(32))
    reported_by: Mapped[str] = mapped_column(String(200))
    reported_on: Mapped[str] = mapped_column(String(10))
    evidence: Mapped[str] = mapped_column(String(500))
    #: changes, outcome before and after, why (contribution changes), model change, explanation texts
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    api_key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PseudonymKeyRow(Base):
    __tablename__ = "pseudonym_keys"

    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime())


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
        _private_sqlite_file(url.removeprefix("sqlite:///"))
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


def _private_sqlite_file(name: str) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask: 0644)."""
    import logging
    import os
    from pathlib import Path

    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if p.exists() and p.stat().st_mode & 0o077:
                p.chmod(0o600)
                logging.getLogger("targeting.api").warning("%s was readable by others: now 0600", p)


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
    The request row goes in the same way, before them (their foreign key names it): the ORM's unit of
    work for that one object was ~0.5 ms of a one-household request. ``request`` stays a plain,
    unattached object holding what was written. Column types (UTC datetimes, JSON) still apply.
    """
    from typing import cast

    from sqlalchemy import Table, insert

    table = cast(Table, RequestRow.__table__)
    session.execute(insert(table), [{c.key: getattr(request, c.key) for c in table.columns}])
    if decisions:
        session.execute(insert(cast(Table, DecisionRow.__table__)), list(decisions))
    session.commit()


def request_decisions(session: Session, request_id: str) -> list[DecisionRow]:
    """The decisions of one request, in request order."""
    stmt = select(DecisionRow).where(DecisionRow.request_id == request_id).order_by(DecisionRow.position)
    return list(session.scalars(stmt))


def household_history(session: Session, pseudonym: str | Sequence[str], *, limit: int = 1000
                      ) -> list[DecisionRow]:
    """Every decision about one household (its pseudonyms under every key), oldest first."""
    pseudonyms = [pseudonym] if isinstance(pseudonym, str) else list(pseudonym)
    stmt = (
        select(DecisionRow)
        .where(DecisionRow.household_pseudonym.in_(pseudonyms))
        .order_by(DecisionRow.created_at, DecisionRow.request_id, DecisionRow.position)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def get_decision(session: Session, decision_id: str) -> DecisionRow | None:
    return session.get(DecisionRow, decision_id)


def latest_decision(session: Session, pseudonyms: Sequence[str]) -> DecisionRow | None:
    """The newest decision about a household (under any of its pseudonyms)."""
    stmt = (select(DecisionRow).where(DecisionRow.household_pseudonym.in_(list(pseudonyms)))
            .order_by(DecisionRow.created_at.desc(), DecisionRow.request_id.desc(),
                      DecisionRow.position.desc())
            .limit(1))
    return session.scalars(stmt).first()


def save_grievance(session: Session, request: RequestRow, decision: dict[str, Any] | None,
                   grievance: GrievanceRow) -> None:
    """Insert a grievance, its request and its re-scored decision in one transaction."""
    from sqlalchemy import insert

    session.add(request)
    session.flush()
    if decision is not None:
        session.execute(insert(DecisionRow), [decision])
    session.add(grievance)
    session.commit()


def request_grievance(session: Session, request_id: str) -> GrievanceRow | None:
    return session.scalars(select(GrievanceRow).where(GrievanceRow.request_id == request_id)).first()


def household_grievances(session: Session, pseudonyms: Sequence[str], *, limit: int = 1000
                         ) -> list[GrievanceRow]:
    """Every grievance about one household, oldest first."""
    stmt = (select(GrievanceRow).where(GrievanceRow.household_pseudonym.in_(list(pseudonyms)))
            .order_by(GrievanceRow.created_at, GrievanceRow.id).limit(limit))
    return list(session.scalars(stmt))


def all_grievances(session: Session) -> list[GrievanceRow]:
    """Every grievance in the store, oldest first (the report's grievance section)."""
    return list(session.scalars(select(GrievanceRow).order_by(GrievanceRow.created_at, GrievanceRow.id)))


# ---- pseudonymisation keys -------------------------------------------------------------------------


def pseudonym_key_history(session: Session) -> list[str]:
    """Fingerprints of the keys the store's pseudonyms were made with, oldest first."""
    return list(session.scalars(select(PseudonymKeyRow.fingerprint).order_by(PseudonymKeyRow.position)))


def holds_pseudonyms(session: Session) -> bool:
    """True when any decision (hence a pseudonym) is stored."""
    return session.scalars(select(DecisionRow.id).limit(1)).first() is not None


def record_pseudonym_key(session: Session, fingerprint: str) -> None:
    """Append a key fingerprint (the store's first key, or the key after a rotation)."""
    history = pseudonym_key_history(session)
    session.add(PseudonymKeyRow(position=len(history) + 1, fingerprint=fingerprint, activated_at=utc_now()))
    session.commit()


def bind_pseudonym_keys(session: Session, state_dir: Any) -> list[bytes]:
    """The keys to pseudonymise with (current first, then older ones for lookups), checked against the store.

    Refuses (`targeting.privacy.PseudonymKeyError`): a missing key when the store holds pseudonyms,
    a key the store has never seen (unless the store's latest key is at hand as a retired key: a
    rotation, then recorded), an older key brought back, and a retired key the store needs but this
    machine lacks (that part of every history would be unreachable).
    """
    import logging

    from targeting.privacy import PseudonymKeyError, key_fingerprint, load_key, retired_keys

    log = logging.getLogger("targeting.api")
    held = holds_pseudonyms(session)
    current = load_key(state_dir, create=not held)
    fp = key_fingerprint(current)
    history = pseudonym_key_history(session)
    retired = retired_keys(state_dir)
    if not history:
        if held:
            log.warning("decision store holds pseudonyms but no key fingerprint (made before they were "
                        "recorded): recording the current key %s", fp)
        record_pseudonym_key(session, fp)
        return [current]
    if history[-1] != fp:
        if fp in history:
            raise PseudonymKeyError(
                f"the pseudonymisation key {fp} was retired; the decision store's current key is "
                f"{history[-1]}: restore the current key file"
            )
        if history[-1] not in retired:
            raise PseudonymKeyError(
                f"kunci samaran tidak cocok / the pseudonymisation key {fp} is not the decision store's "
                f"key {history[-1]}: restore the key file (or rotate with `targeting pseudonym-key rotate`, "
                "which keeps the old key for lookups)"
            )
        log.warning("pseudonymisation key rotated: %s -> %s", history[-1], fp)
        record_pseudonym_key(session, fp)
        history.append(fp)
    missing = [f for f in history if f != fp and f not in retired]
    if missing:
        raise PseudonymKeyError(
            f"retired pseudonymisation keys {missing} are listed by the decision store but missing from "
            "<home>/pseudonym_keys/: decisions made with them could not be found; restore them"
        )
    return [current, *(retired[f] for f in reversed(history) if f != fp)]


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
