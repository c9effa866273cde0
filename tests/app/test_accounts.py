"""Users, caseloads, the append-only audit log and the `totalplace users` commands."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from totalplace.app.accounts import AccountError, Accounts
from totalplace.cli import main


@pytest.fixture
def acc(tmp_path):
    return Accounts(tmp_path / "app.sqlite")


def test_passwords_are_argon2_hashes_and_checked(acc):
    acc.add_user("ada", "correct horse battery", "analyst")
    with sqlite3.connect(acc.path) as con:
        (h,) = con.execute("SELECT password_hash FROM users").fetchone()
    assert h.startswith("$argon2id$") and "correct" not in h
    assert acc.check_password("ada", "correct horse battery").role == "analyst"
    assert acc.check_password("ada", "wrong password!") is None
    assert acc.check_password("nobody", "correct horse battery") is None


def test_bad_requests_say_what_was_wrong(acc):
    with pytest.raises(AccountError, match="at least 10"):
        acc.add_user("ada", "short", "analyst")
    with pytest.raises(AccountError, match="role must be one of"):
        acc.add_user("ada", "long enough pw", "boss")
    acc.add_user("ada", "long enough pw", "analyst")
    with pytest.raises(AccountError, match="already"):
        acc.add_user("ada", "long enough pw", "analyst")
    with pytest.raises(AccountError, match="not a practitioner"):
        acc.assign("ada", ["P1"], by="t")


def test_disabled_users_cannot_sign_in(acc):
    acc.add_user("sam", "long enough pw", "practitioner")
    acc.disable("sam")
    assert acc.check_password("sam", "long enough pw") is None


def test_audit_log_is_append_only(acc):
    acc.add_user("sam", "long enough pw", "practitioner")
    acc.audit(acc.user("sam"), "view person", "viewed", "P1", "Safeguarding")
    with sqlite3.connect(acc.path) as con:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE audit SET outcome = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM audit")
    assert [r["person_id"] for r in acc.audit_log()] == ["P1"]


def test_users_commands(minitown):
    r = CliRunner()
    out = r.invoke(
        main,
        ["users", "add", str(minitown), "--username", "sam", "--role", "practitioner"],
        input="a long password\na long password\n",
    )
    assert out.exit_code == 0, out.output
    out = r.invoke(main, ["users", "caseload", str(minitown), "sam", "P1", "P2"])
    assert out.exit_code == 0, out.output
    out = r.invoke(main, ["users", "list", str(minitown)])
    assert out.output.split() == ["sam", "practitioner", "active,", "2", "on", "caseload"]
    assert r.invoke(main, ["users", "disable", str(minitown), "sam"]).exit_code == 0
    assert "disabled" in r.invoke(main, ["users", "list", str(minitown)]).output
    bad = r.invoke(main, ["users", "disable", str(minitown), "nobody"])
    assert bad.exit_code == 1 and "no user 'nobody'" in bad.output
