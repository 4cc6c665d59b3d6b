"""The platform's database: listings, verification records, events, the disposition outbox.

SQLite in WAL mode, one connection, one lock. Every change that must happen together (a listing's
new state, its verification record and the disposition to report) is one transaction, so a crash
never leaves a takedown without its report or a report without its takedown. Verification records
are append-only: triggers refuse UPDATE and DELETE (AUD-03).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .config import Codes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS listings (
    listing_id          TEXT PRIMARY KEY,
    merchant_id         TEXT NOT NULL,
    category_id         TEXT NOT NULL,
    title               TEXT NOT NULL,
    brand               TEXT,
    model               TEXT,
    manufacturer        TEXT,
    certificate_no      TEXT,      -- as the merchant submitted it
    self_declaration_no TEXT,
    basis               TEXT NOT NULL,
    cert_no             TEXT,      -- normalised 16 digits, when the listing has one
    state               TEXT NOT NULL,
    reason_code         TEXT,
    version             INTEGER NOT NULL,  -- bumped by every edit that re-verifies
    was_on_sale         INTEGER NOT NULL DEFAULT 0,
    pending_since       REAL,
    next_attempt_at     REAL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    cert_status         TEXT,      -- registry status last known (consumer view)
    cert_expiry         TEXT,      -- expiryDate last known
    last_verified_at    TEXT,
    verified_epoch      REAL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS listings_by_cert ON listings (cert_no, state);
CREATE INDEX IF NOT EXISTS listings_by_state ON listings (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS listings_by_merchant ON listings (merchant_id, state);
CREATE INDEX IF NOT EXISTS listings_by_age ON listings (basis, state, verified_epoch);

CREATE TABLE IF NOT EXISTS verification_records (
    record_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id     TEXT NOT NULL,
    certificate_no TEXT,
    request_id     TEXT,
    requested_at   TEXT NOT NULL,
    responded_at   TEXT,
    outcome        TEXT,
    decision       TEXT NOT NULL,
    reason_code    TEXT
);
CREATE INDEX IF NOT EXISTS records_by_listing ON verification_records (listing_id, record_id);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON verification_records
    BEGIN SELECT RAISE(ABORT, 'verification records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON verification_records
    BEGIN SELECT RAISE(ABORT, 'verification records are append-only'); END;

CREATE TABLE IF NOT EXISTS events (
    rowid_         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL UNIQUE,
    sequence       INTEGER NOT NULL,
    certificate_no TEXT NOT NULL,
    previous_status TEXT,
    status         TEXT NOT NULL,
    effective_at   TEXT,
    reason         TEXT,
    source         TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    outcome        TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS certificates (
    certificate_no TEXT PRIMARY KEY,
    last_sequence  INTEGER NOT NULL,
    last_status    TEXT NOT NULL,
    applied_mark   INTEGER NOT NULL   -- events.rowid_ of the last applied event
);

CREATE TABLE IF NOT EXISTS dispositions (
    disposition_id  TEXT PRIMARY KEY,
    listing_id      TEXT NOT NULL,
    body            TEXT NOT NULL,     -- the exact JSON reported, resent unchanged on retries
    created_epoch   REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    done            INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER
);
CREATE INDEX IF NOT EXISTS dispositions_due ON dispositions (done, next_attempt_at);

CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, seen_epoch REAL NOT NULL);
CREATE INDEX IF NOT EXISTS nonces_by_age ON nonces (seen_epoch);
"""


@dataclass
class Listing:
    listing_id: str
    merchant_id: str
    category_id: str
    title: str
    brand: str | None
    model: str | None
    manufacturer: str | None
    certificate_no: str | None
    self_declaration_no: str | None
    basis: str
    cert_no: str | None
    state: str
    reason_code: str | None
    version: int
    was_on_sale: int
    pending_since: float | None
    next_attempt_at: float | None
    attempts: int
    cert_status: str | None
    cert_expiry: str | None
    last_verified_at: str | None
    verified_epoch: float | None
    created_at: str
    updated_at: str


_LISTING_COLUMNS = [f.name for f in fields(Listing)]
_LISTING_SELECT = f"SELECT {', '.join(_LISTING_COLUMNS)} FROM listings"


@dataclass(frozen=True)
class Record:
    listing_id: str
    certificate_no: str | None
    request_id: str | None
    requested_at: str
    responded_at: str | None
    outcome: str | None
    decision: str
    reason_code: str | None


class Store:
    def __init__(self, path: Path) -> None:
        # One connection shared by the event loop and the odd worker thread; the lock serialises them.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._depth = 0
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only a power loss can lose
        # the last transactions, which a test environment accepts for the speed.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # A checkpoint copies the WAL into the database and syncs it: tens of milliseconds that must
        # not stall the event loop. The workers run it in a thread (checkpoint) instead of SQLite
        # running it inside whichever commit crosses the threshold.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._path = path
        self._checkpointer: sqlite3.Connection | None = None
        # The checkpoint thread may still be inside SQLite when the platform stops: closing waits for it.
        self._checkpoint_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._checkpoint_lock:
            self._closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
        with self._lock:
            self._db.close()

    def checkpoint(self) -> None:
        """Move the WAL into the database file; meant for a worker thread (its own connection)."""
        with self._checkpoint_lock:
            if self._closed:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
                self._checkpointer.execute("PRAGMA busy_timeout=5000")
            # PASSIVE: copies what it can without waiting for, or blocking, the event loop's connection.
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together; nested use joins the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    # -- listings ----------------------------------------------------------------------------
    def insert_listing(self, listing: Listing) -> None:
        marks = ", ".join("?" for _ in _LISTING_COLUMNS)
        self._run(f"INSERT INTO listings ({', '.join(_LISTING_COLUMNS)}) VALUES ({marks})",
                  tuple(getattr(listing, c) for c in _LISTING_COLUMNS))

    def listing(self, listing_id: str) -> Listing | None:
        row = self._one(f"{_LISTING_SELECT} WHERE listing_id = ?", (listing_id,))
        return Listing(*row) if row else None

    def listings_by_id(self, listing_ids: list[str]) -> dict[str, Listing]:
        found: dict[str, Listing] = {}
        for start in range(0, len(listing_ids), 500):   # SQLite's limit on parameters per statement
            chunk = listing_ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self._all(f"{_LISTING_SELECT} WHERE listing_id IN ({marks})", tuple(chunk)):
                listing = Listing(*row)
                found[listing.listing_id] = listing
        return found

    def update_listing(self, listing_id: str, **changes: Any) -> None:
        if not changes:
            return
        unknown = set(changes) - set(_LISTING_COLUMNS)
        if unknown:
            raise KeyError(f"no listing column {sorted(unknown)}")
        assignments = ", ".join(f"{c} = ?" for c in changes)
        self._run(f"UPDATE listings SET {assignments} WHERE listing_id = ?", (*changes.values(), listing_id))

    def listings_on_certificate(self, cert_no: str, basis: str) -> list[Listing]:
        rows = self._all(f"{_LISTING_SELECT} WHERE cert_no = ? AND basis = ?", (cert_no, basis))
        return [Listing(*r) for r in rows]

    def listings_with_basis(self, basis: str) -> list[Listing]:
        """Every listing with one basis (the events-touch-out-of-catalogue fault scans them)."""
        return [Listing(*r) for r in self._all(f"{_LISTING_SELECT} WHERE basis = ?", (basis,))]

    def merchant_listings(self, merchant_id: str, state: str) -> list[Listing]:
        rows = self._all(f"{_LISTING_SELECT} WHERE merchant_id = ? AND state = ?", (merchant_id, state))
        return [Listing(*r) for r in rows]

    def due_pending(self, now: float, limit: int) -> list[Listing]:
        rows = self._all(f"{_LISTING_SELECT} WHERE state = ? AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
                         (Codes.PENDING, now, limit))
        return [Listing(*r) for r in rows]

    def next_pending_time(self) -> float | None:
        row = self._one("SELECT MIN(next_attempt_at) FROM listings WHERE state = ?", (Codes.PENDING,))
        return row[0] if row else None

    def resume_pending(self, state: str, now: float) -> None:
        self._run("UPDATE listings SET next_attempt_at = ? WHERE state = ? AND next_attempt_at IS NULL", (now, state))

    def mark_overdue_pending(self, started_before: float, reason: str) -> int:
        """Give undecided listings past their decision deadline the reason they are still off sale."""
        cur = self._run("UPDATE listings SET reason_code = ? WHERE state = ? AND reason_code IS NULL "
                        "AND pending_since <= ?", (reason, Codes.PENDING, started_before))
        return cur.rowcount

    def due_certificates(self, basis: str, states_reasons: list[tuple[str, str | None]], verified_before: float,
                         limit: int) -> list[str]:
        """Certificates with a listing of the basis, in one of the (state, reason) pairs, last verified
        before the time (or never), the longest-waiting first."""
        clauses = " OR ".join("(state = ? AND reason_code IS ?)" for _ in states_reasons)
        params: list[Any] = [basis]
        for state, reason in states_reasons:
            params += [state, reason]
        rows = self._all(f"SELECT cert_no FROM listings WHERE basis = ? AND ({clauses}) AND cert_no IS NOT NULL "
                         "AND (verified_epoch IS NULL OR verified_epoch < ?) "
                         "GROUP BY cert_no ORDER BY MIN(IFNULL(verified_epoch, 0)) LIMIT ?",
                         (*params, verified_before, limit))
        return [r[0] for r in rows]

    # -- verification records (append-only) ---------------------------------------------------
    def add_record(self, record: Record) -> None:
        self._run("INSERT INTO verification_records (listing_id, certificate_no, request_id, requested_at, "
                  "responded_at, outcome, decision, reason_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  (record.listing_id, record.certificate_no, record.request_id, record.requested_at,
                   record.responded_at, record.outcome, record.decision, record.reason_code))

    def record_count(self, listing_id: str) -> int:
        row = self._one("SELECT COUNT(*) FROM verification_records WHERE listing_id = ?", (listing_id,))
        return int(row[0]) if row else 0

    def rewrite_last_record(self, record: Record) -> None:
        """The rewrite-records fault: the listing's newest record overwritten in place (the append-only
        guard is dropped first, as a platform with this bug would not have it)."""
        self._run("DROP TRIGGER IF EXISTS records_no_update")
        self._run("UPDATE verification_records SET certificate_no = ?, request_id = ?, requested_at = ?, "
                  "responded_at = ?, outcome = ?, decision = ?, reason_code = ? WHERE record_id = "
                  "(SELECT MAX(record_id) FROM verification_records WHERE listing_id = ?)",
                  (record.certificate_no, record.request_id, record.requested_at, record.responded_at,
                   record.outcome, record.decision, record.reason_code, record.listing_id))

    def records(self, listing_id: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT record_id, listing_id, certificate_no, request_id, requested_at, responded_at, "
                         "outcome, decision, reason_code FROM verification_records WHERE listing_id = ? "
                         "ORDER BY record_id", (listing_id,))
        keys = ("recordId", "listingId", "certificateNo", "requestId", "requestedAt", "respondedAt", "outcome",
                "decision", "reasonCode")
        return [dict(zip(keys, (str(r[0]), *r[1:]), strict=True)) for r in rows]

    # -- events and per-certificate order -------------------------------------------------------
    def insert_event(self, event: dict[str, Any], source: str, received_at: str) -> int | None:
        """The new event's row id, or None when its eventId was seen before (dedupe)."""
        cur = self._run("INSERT OR IGNORE INTO events (event_id, sequence, certificate_no, previous_status, status, "
                        "effective_at, reason, source, received_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (event["eventId"], event["sequence"], event["certificateNo"], event.get("previousStatus"),
                         event["status"], event.get("effectiveAt"), event.get("reason"), source, received_at,
                         "received"))
        return cur.lastrowid if cur.rowcount == 1 else None

    def set_event_outcome(self, row_id: int, outcome: str) -> None:
        self._run("UPDATE events SET outcome = ? WHERE rowid_ = ?", (outcome, row_id))

    def certificate_state(self, cert_no: str) -> tuple[int, str, int] | None:
        """(last applied sequence, its status, its event row id) for a certificate, or None."""
        row = self._one("SELECT last_sequence, last_status, applied_mark FROM certificates WHERE certificate_no = ?",
                        (cert_no,))
        return (row[0], row[1], row[2]) if row else None

    def set_certificate_state(self, cert_no: str, sequence: int, status: str, mark: int) -> None:
        self._run("INSERT INTO certificates (certificate_no, last_sequence, last_status, applied_mark) "
                  "VALUES (?, ?, ?, ?) ON CONFLICT (certificate_no) DO UPDATE SET last_sequence = excluded.last_sequence, "
                  "last_status = excluded.last_status, applied_mark = excluded.applied_mark",
                  (cert_no, sequence, status, mark))

    # -- disposition outbox -------------------------------------------------------------------
    def add_disposition(self, disposition: dict[str, Any], now: float) -> None:
        self._run("INSERT INTO dispositions (disposition_id, listing_id, body, created_epoch, next_attempt_at) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (disposition["dispositionId"], disposition["listingId"],
                   json.dumps(disposition, ensure_ascii=False, separators=(",", ":")), now, now))

    def due_dispositions(self, now: float, limit: int) -> list[tuple[str, str, int]]:
        """(dispositionId, body, attempts) of reports due now, oldest first."""
        return [(r[0], r[1], r[2]) for r in self._all(
            "SELECT disposition_id, body, attempts FROM dispositions WHERE done = 0 AND next_attempt_at <= ? "
            "ORDER BY created_epoch LIMIT ?", (now, limit))]

    def next_disposition_time(self) -> float | None:
        row = self._one("SELECT MIN(next_attempt_at) FROM dispositions WHERE done = 0")
        return row[0] if row else None

    def postpone_disposition(self, disposition_id: str, until: float) -> None:
        self._run("UPDATE dispositions SET next_attempt_at = ? WHERE disposition_id = ?", (until, disposition_id))

    def disposition_sent(self, disposition_id: str, status: int) -> None:
        self._run("UPDATE dispositions SET done = 1, last_status = ?, attempts = attempts + 1 WHERE disposition_id = ?",
                  (status, disposition_id))

    def disposition_failed(self, disposition_id: str, status: int | None, next_attempt_at: float) -> None:
        self._run("UPDATE dispositions SET last_status = ?, attempts = attempts + 1, next_attempt_at = ? "
                  "WHERE disposition_id = ?", (status, next_attempt_at, disposition_id))

    def dispositions(self, listing_id: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT body, done, attempts, last_status FROM dispositions WHERE listing_id = ? "
                         "ORDER BY created_epoch", (listing_id,))
        return [{**json.loads(b), "_sent": bool(d), "_attempts": a, "_status": s} for b, d, a, s in rows]

    # -- change-feed cursor, nonces -----------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        row = self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        self._run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  (key, value))

    def use_nonce(self, nonce: str, now: float) -> bool:
        """Remember a nonce; False when it was already used (a replay)."""
        cur = self._run("INSERT OR IGNORE INTO nonces (nonce, seen_epoch) VALUES (?, ?)", (nonce, now))
        return cur.rowcount == 1

    def forget_nonces(self, seen_before: float) -> None:
        self._run("DELETE FROM nonces WHERE seen_epoch < ?", (seen_before,))
