"""A linked Anytown with a report, users of every role and a caseload, shared by app tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

PASSWORDS = {"ana": "analyst-passphrase", "pat": "practitioner-pass", "adm": "admin-passphrase"}
ROLES = {"ana": "analyst", "pat": "practitioner", "adm": "admin"}


@pytest.fixture(scope="session")
def app_place(anytown_linked: Path, tmp_path_factory) -> Path:
    from totalplace.app import Accounts
    from totalplace.place import Place

    dst = tmp_path_factory.mktemp("app") / "anytown"
    shutil.copytree(anytown_linked, dst)
    from totalplace.place import available_stages

    with Place.open(dst) as place:
        # Every analysis stage this version has, so the disclosure scan covers every section
        # (and the person page and cohort explorer have the people stage's tables).
        for name in available_stages():
            if name not in ("ingest", "link", "report"):
                place.stage(name).run()
        place.report.run()
        people = (
            place.store.engine.query(
                """SELECT p.person_id FROM persons p WHERE p.n_agencies >= 3 AND EXISTS (
                 SELECT 1 FROM events e JOIN person_links l
                   ON e.agency = l.agency AND CAST(e.source_id AS VARCHAR) = l.source_id
                 WHERE l.person_id = p.person_id)
               ORDER BY p.person_id LIMIT 3"""
            )
            .column("person_id")
            .to_pylist()
        )
    acc = Accounts.for_place(dst)
    for user, role in ROLES.items():
        acc.add_user(user, PASSWORDS[user], role)
    acc.assign("pat", people[:2], by="test")
    (dst / "people.txt").write_text("\n".join(people))
    return dst


@pytest.fixture(scope="session")
def caseload(app_place: Path) -> list[str]:
    """Two people on pat's caseload, then one who is not."""
    return (app_place / "people.txt").read_text().split()


@pytest.fixture(scope="session")
def app(app_place: Path):
    from totalplace.app import create_app

    # The app opens the store only while a request reads it.
    return create_app(app_place)


def sign_in(client, user: str):
    r = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    return client.post(
        "/login", data={"username": user, "password": PASSWORDS[user], "csrf": token}
    )
