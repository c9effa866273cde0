"""Users, caseloads and the audit log of the web app, in ``PLACE_DIR/app/app.sqlite``.

Kept apart from the place store (DuckDB allows one writer), so ``totalplace users add`` works
while the app is running. Passwords are hashed with Argon2id (argon2-cffi). The audit log
is append-only: triggers refuse any UPDATE or DELETE on it.

>>> import tempfile, pathlib
>>> acc = Accounts(pathlib.Path(tempfile.mkdtemp()) / "app.sqlite")
>>> acc.add_user("ada", "a long passphrase", "analyst").role
'analyst'
>>> acc.check_password("ada", "a long passphrase").username
'ada'
>>> acc.check_password("ada", "wrong") is None
True
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from totalplace.errors import TotalplaceError

Role = Literal["analyst", "practitioner", "admin"]
ROLES: tuple[str, ...] = ("analyst", "practitioner", "admin")
MIN_PASSWORD = 10

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('analyst', 'practitioner', 'admin')),
  password_hash TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS caseloads (
  username TEXT NOT NULL REFERENCES users(username),
  person_id TEXT NOT NULL,
  added_by TEXT NOT NULL,
  added_at TEXT NOT NULL,
  PRIMARY KEY (username, person_id)
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  person_id TEXT,
  purpose TEXT,
  outcome TEXT NOT NULL,
  detail TEXT
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


class AccountError(ValueError, TotalplaceError):
    """A user-management request that cannot be done (says what and why)."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    active: bool


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class Accounts:
    """The app's users, caseloads and audit log (one SQLite file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._hasher = PasswordHasher()
        with self._con() as con:
            con.executescript(SCHEMA)

    @classmethod
    def for_place(cls, place_dir: str | Path) -> Accounts:
        root = Path(place_dir)
        root = root.parent if root.is_file() else root
        return cls(root / "app" / "app.sqlite")

    def _con(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10)
        con.row_factory = sqlite3.Row
        return con

    # --- users ---------------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str) -> User:
        if not re.fullmatch(r"[a-z][a-z0-9._-]{1,31}", username or ""):
            raise AccountError(
                f"a username is 2-32 lower-case letters, digits, '.', '_' or '-', starting "
                f"with a letter; found {username!r}"
            )
        if role not in ROLES:
            raise AccountError(f"role must be one of: {', '.join(ROLES)}; found {role!r}")
        if len(password or "") < MIN_PASSWORD:
            raise AccountError(
                f"a password needs at least {MIN_PASSWORD} characters; found {len(password or '')}"
            )
        with self._con() as con:
            if con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
                raise AccountError(f"there is already a user {username!r}")
            con.execute(
                "INSERT INTO users VALUES (?, ?, ?, 1, ?)",
                [username, role, self._hasher.hash(password), _now()],
            )
        return User(username, role, True)

    def users(self) -> list[User]:
        with self._con() as con:
            rows = con.execute("SELECT * FROM users ORDER BY username").fetchall()
        return [User(r["username"], r["role"], bool(r["active"])) for r in rows]

    def user(self, username: str) -> User | None:
        with self._con() as con:
            r = con.execute("SELECT * FROM users WHERE username = ?", [username]).fetchone()
        return User(r["username"], r["role"], bool(r["active"])) if r else None

    def disable(self, username: str) -> None:
        with self._con() as con:
            n = con.execute("UPDATE users SET active = 0 WHERE username = ?", [username]).rowcount
        if not n:
            names = ", ".join(u.username for u in self.users()) or "none"
            raise AccountError(f"no user {username!r}; users: {names}")

    def check_password(self, username: str, password: str) -> User | None:
        """The active user with this password, or None (same work whether or not they exist)."""
        with self._con() as con:
            r = con.execute("SELECT * FROM users WHERE username = ?", [username]).fetchone()
        stored = r["password_hash"] if r else self._dummy_hash()
        try:
            self._hasher.verify(stored, password or "")
        except (VerificationError, InvalidHashError):
            return None
        if not r or not r["active"]:
            return None
        return User(r["username"], r["role"], True)

    def _dummy_hash(self) -> str:
        if not hasattr(self, "_dummy"):
            self._dummy = self._hasher.hash("not a real password at all")
        return self._dummy

    # --- caseloads -----------------------------------------------------------------------
    def assign(self, username: str, person_ids: list[str], by: str) -> int:
        u = self.user(username)
        if u is None or u.role != "practitioner":
            raise AccountError(
                f"{username!r} is not a practitioner; only practitioners have caseloads"
            )
        with self._con() as con:
            con.executemany(
                "INSERT OR IGNORE INTO caseloads VALUES (?, ?, ?, ?)",
                [(username, p, by, _now()) for p in person_ids],
            )
        return len(person_ids)

    def unassign(self, username: str, person_id: str) -> None:
        with self._con() as con:
            con.execute(
                "DELETE FROM caseloads WHERE username = ? AND person_id = ?", [username, person_id]
            )

    def caseload(self, username: str) -> list[str]:
        with self._con() as con:
            rows = con.execute(
                "SELECT person_id FROM caseloads WHERE username = ? ORDER BY person_id",
                [username],
            ).fetchall()
        return [r["person_id"] for r in rows]

    def on_caseload(self, username: str, person_id: str) -> bool:
        with self._con() as con:
            return bool(
                con.execute(
                    "SELECT 1 FROM caseloads WHERE username = ? AND person_id = ?",
                    [username, person_id],
                ).fetchone()
            )

    def caseloads(self) -> list[dict]:
        with self._con() as con:
            rows = con.execute("SELECT * FROM caseloads ORDER BY username, person_id").fetchall()
        return [dict(r) for r in rows]

    # --- audit ---------------------------------------------------------------------------
    def audit(
        self,
        user: User,
        action: str,
        outcome: str,
        person_id: str | None = None,
        purpose: str | None = None,
        detail: str | None = None,
    ) -> None:
        with self._con() as con:
            con.execute(
                "INSERT INTO audit (at, username, role, action, person_id, purpose, outcome, "
                "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_now(), user.username, user.role, action, person_id, purpose, outcome, detail],
            )

    def audit_log(self, limit: int = 500) -> list[dict]:
        with self._con() as con:
            rows = con.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]).fetchall()
        return [dict(r) for r in rows]
