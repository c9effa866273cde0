"""The app holds no store open: stages publish into the place while it serves, and the next
request shows what they published."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import PASSWORDS, sign_in

pytestmark = pytest.mark.slow


def test_stages_publish_while_the_app_serves_and_it_shows_the_new_data(minitown, repo_root):
    from totalplace.app import Accounts, create_app
    from totalplace.place import Place

    Accounts.for_place(minitown).add_user("ana", PASSWORDS["ana"], "analyst")
    app = create_app(minitown)  # no store yet
    client = TestClient(app)
    sign_in(client, "ana")
    r = client.get("/section/glance")
    assert r.status_code == 200 and "Nothing has been read into this place yet" in r.text

    # A stage in this process publishes while the app object is alive. (One process may not
    # open a DuckDB file twice, so the app first lets go of the connection it keeps for half
    # a second after a request; a stage in another process just waits for that, see below.)
    app.state.data.close()
    with Place.open(minitown) as place:
        place.ingest.run()
        n_records = place.store.engine.count("source_people")
    r = client.get("/section/glance")
    assert r.status_code == 200 and "person records" in r.text
    assert "once linked" not in r.text
    assert n_records > 0

    # Another process links the place while the app keeps answering requests.
    env = {**os.environ, "PYTHONPATH": str(repo_root / "src")}
    cmd = [sys.executable, "-c", "from totalplace.cli import main; main()", "link", str(minitown)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # Requests without pause keep the app's connection busy; it is still let go at least
    # every two seconds, so the stage's publish gets its turn.
    served = 0
    while proc.poll() is None:
        assert client.get("/section/methods").status_code in (200, 503)
        served += 1
        time.sleep(0.05)
    out = proc.stdout.read().decode()
    assert proc.returncode == 0, out
    assert served > 0
    r = client.get("/section/glance")
    assert r.status_code == 200 and "once linked" in r.text
    r = client.get("/section/methods")
    assert r.status_code == 200 and "link" in r.text and "the stages that ran are" in r.text


def test_an_app_is_not_made_from_a_place_open_for_writing(minitown):
    from totalplace.app import create_app
    from totalplace.place import Place

    with Place.open(minitown) as place:
        place.ingest.run()
        with pytest.raises(ValueError, match="needs the place's folder"):
            create_app(place)
    with Place.open(minitown, read_only=True) as place:
        app = create_app(place)
    assert app.state.data.store_path == place.manifest.store_path
