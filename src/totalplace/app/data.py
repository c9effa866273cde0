"""What the app's pages show, read from the place's published tables (no computing here).

Aggregate pages reuse the report's sections (already disclosure-controlled); the person page
reads one person's rows across the published tables.

The app never holds the place's store open for long: requests read it through a read-only
connection that is closed within a second of the last request and at most two seconds after
it was opened (``PlaceData.open``), so a stage can publish while the app runs (DuckDB lets one
process write a file only when no other holds it).
Sections are kept between requests until the store file or ``place.yaml`` changes, so a new
run shows on the next request. One lock serialises store access.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from totalplace.disclosure import Disclosure
from totalplace.manifest import Manifest, load_manifest
from totalplace.report.sections import PARTS, Part, build_section
from totalplace.section import Section, SectionTable

log = logging.getLogger(__name__)

# Tables with a person_id column that the person page shows in their own right, or never.
PERSON_CORE = {"persons", "person_links", "household_members", "linkage_pairs"}
PERSON_NEVER = {"person_id_history"}


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        s = path.stat()
    except FileNotFoundError:
        return None
    return (s.st_ino, s.st_size, s.st_mtime_ns)


class PlaceData:
    """One place as the app sees it: its folder and settings, its store opened briefly.

    ``place`` is the place's folder (or ``place.yaml``), or an open ``Place`` whose folder
    and store file are used (not its connection: close it before the app serves, or open it
    ``read_only``). ``disclosure`` fixes the publishing rule; by default it is the one
    ``place.yaml`` names, re-read when that file changes.

    Opening a DuckDB file costs a tenth of a second or more, so the read-only connection is
    kept for requests that follow closely: it is closed once unused for ``keep_open``
    seconds, and in any case ``max_open`` seconds after it was opened, then not reopened for
    ``GAP`` seconds, so a stage waiting to publish (it waits up to ``TOTALPLACE_LOCK_WAIT``,
    5 seconds) always gets its turn however busy the app is. ``keep_open=0`` opens the
    store for each request.
    """

    GAP = 0.3

    def __init__(
        self,
        place: Any,
        disclosure: Disclosure | None = None,
        keep_open: float = 0.5,
        max_open: float = 2.0,
    ):
        if isinstance(place, (str, Path)):
            self.manifest: Manifest = load_manifest(place)
            self.store_path = self.manifest.store_path
        else:
            if not place.store.read_only and place.store.path is not None:
                raise ValueError(
                    "create_app needs the place's folder (or a Place opened read_only=True): "
                    "this Place holds its store for writing, and one process cannot also "
                    f"open it to read; use create_app({str(place.root)!r})"
                )
            self.manifest = place.manifest
            self.store_path = Path(place.store.path or place.manifest.store_path)
        self.root = self.manifest.root
        self._fixed = disclosure
        self.disclosure = disclosure or Disclosure.for_place(self)
        self.keep_open = keep_open
        self.max_open = max_open
        self.lock = threading.RLock()
        self._sections: dict[str, Section] = {}
        self._seen: tuple | None = None
        self._place: Any = None  # the open place, in a block or kept for the next one
        self._depth = 0
        self._opened_at = self._used_at = self._closed_at = 0.0
        self._closer: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    # --- the store, briefly ------------------------------------------------------------------
    def _stamp(self) -> tuple:
        """What changes when a stage publishes (the store file and its log) or settings change."""
        wal = self.store_path.with_name(self.store_path.name + ".wal")
        return (_stat(self.store_path), _stat(wal), _stat(self.root / "place.yaml"))

    def _refresh(self) -> None:
        """Forget cached sections (and any kept connection) when the store or ``place.yaml``
        changed since last seen."""
        stamp = self._stamp()
        if stamp == self._seen:
            return
        if self._seen is not None and stamp[2] != self._seen[2]:
            try:
                self.manifest = load_manifest(self.root)
                self.disclosure = self._fixed or Disclosure.for_place(self)
            except Exception as e:  # a half-saved place.yaml: keep serving the last good one
                log.warning("place.yaml could not be read again, keeping the last: %s", e)
        self._sections.clear()
        self._close()
        self._seen = stamp

    def _close(self, aged: bool = False) -> None:
        if self._place is not None and self._depth == 0:
            place, self._place = self._place, None
            if aged:  # closed while in use: hold off reopening so a waiting stage can publish
                self._closed_at = time.monotonic()
            place.close()

    def close(self) -> None:
        """Close a kept connection now (the next request opens the store again)."""
        with self.lock:
            self._close()

    def _close_when_idle(self) -> None:
        """The closer thread: lets go of the store once it is idle or old enough."""
        while True:
            time.sleep(max(0.05, min(self.keep_open, self.max_open) / 2))
            with self.lock:
                if self._place is None:
                    self._closer = None
                    return
                now = time.monotonic()
                if self._depth == 0 and now - self._opened_at >= self.max_open:
                    self._close(aged=True)
                elif self._depth == 0 and now - self._used_at >= self.keep_open:
                    self._close()

    @contextmanager
    def open(self) -> Iterator[Any]:
        """The place with its store open read-only for the block (re-entrant).

        A place with no store yet gets an empty in-memory one, so every section says what to
        run first.
        """
        from totalplace.place import Place
        from totalplace.store import Store

        with self.lock:
            if self._depth == 0:
                self._refresh()
                if self._place is not None and time.monotonic() - self._opened_at >= self.max_open:
                    self._close(aged=True)
                if self._place is None:
                    wait = self._closed_at + self.GAP - time.monotonic()
                    if wait > 0:  # a stage waiting to publish gets its turn
                        time.sleep(wait)
                    if self.store_path.exists():
                        store = Store.open(self.store_path, read_only=True)
                    else:
                        store = Store.open(":memory:")
                    self._place = Place(self.manifest, store)
                    self._opened_at = time.monotonic()
            self._depth += 1
            try:
                yield self._place
            finally:
                self._depth -= 1
                self._used_at = time.monotonic()
                if self._depth == 0:
                    if self._used_at - self._opened_at >= self.max_open:
                        self._close(aged=True)
                    elif self.keep_open <= 0:
                        self._close()
                    elif self._closer is None:
                        self._closer = threading.Thread(
                            target=self._close_when_idle,
                            name="totalplace-store-closer",
                            daemon=True,
                        )
                        self._closer.start()

    # --- aggregates ------------------------------------------------------------------------
    def part(self, key: str) -> Part | None:
        return next((p for p in PARTS if p.key == key), None)

    def section(self, key: str) -> Section:
        with self.lock:
            if self._depth == 0:
                self._refresh()
            if key not in self._sections:
                part = self.part(key)
                if part is None:
                    raise KeyError(key)
                with self.open() as place:
                    self._sections[key] = build_section(place, part, self.disclosure)
            return self._sections[key]

    def sections(self) -> list[tuple[Part, Section]]:
        """Every part with its section, opening the store at most once."""
        with self.lock:
            self._refresh()
            if all(p.key in self._sections for p in PARTS):
                return [(p, self._sections[p.key]) for p in PARTS]
            with self.open():
                return [(p, self.section(p.key)) for p in PARTS]

    def export_tables(self) -> list[tuple[str, int, SectionTable]]:
        """Every aggregate table of every section that has run: (section key, index, table)."""
        out = []
        for key, s in ((p.key, s) for p, s in self.sections()):
            for i, t in enumerate(s.tables):
                out.append((key, i, t))
        return out

    def ran(self, stage: str) -> bool:
        with self.open() as place:
            return place.store.last_run(stage) is not None

    # --- one person ------------------------------------------------------------------------
    def _q(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        return self._place.store.engine.query(sql, params).to_pylist()

    def person_exists(self, person_id: str) -> bool:
        with self.open() as place:
            if not place.store.engine.has_table("persons"):
                return False
            return bool(self._q('SELECT 1 FROM "persons" WHERE person_id = ?', [person_id]))

    def person(self, person_id: str) -> dict[str, Any]:
        """Everything the person page shows about one person."""
        with self.open() as place:
            engine = place.store.engine
            have = set(engine.tables())
            names = {a.id: a.name for a in place.manifest.agencies}
            person = self._q('SELECT * FROM "persons" WHERE person_id = ?', [person_id])[0]
            records = self._q(
                """SELECT s.agency, s.source_id, s.given_name, s.family_name, s.dob, s.sex,
                          s.postcode, l.match_probability
                   FROM "person_links" l JOIN "source_people" s
                     ON s.agency = l.agency AND CAST(s.source_id AS VARCHAR) = l.source_id
                   WHERE l.person_id = ? ORDER BY s.agency, s.source_id""",
                [person_id],
            )
            events = []
            if "events" in have:
                events = self._q(
                    """SELECT e.start_at, e.end_at, e.agency, e.service, e.activity, e.channel,
                              e.outcome, e.reason_text, e.cost_gbp
                       FROM "events" e JOIN "person_links" l
                         ON e.agency = l.agency AND CAST(e.source_id AS VARCHAR) = l.source_id
                       WHERE l.person_id = ? ORDER BY e.start_at, e.agency LIMIT 2000""",
                    [person_id],
                )
            household, members = None, []
            if {"household_members", "households"} <= have:
                hm = self._q(
                    """SELECT household_id FROM "household_members"
                       WHERE person_id = ? ORDER BY is_current DESC, date_from DESC NULLS LAST
                       LIMIT 1""",
                    [person_id],
                )
                if hm:
                    hid = hm[0]["household_id"]
                    household = self._q('SELECT * FROM "households" WHERE household_id = ?', [hid])[
                        0
                    ]
                    members = self._q(
                        """SELECT m.person_id, p.given_name, p.family_name, p.dob, m.is_current
                           FROM "household_members" m LEFT JOIN "persons" p USING (person_id)
                           WHERE m.household_id = ? AND m.person_id <> ?
                           ORDER BY m.person_id""",
                        [hid, person_id],
                    )
            costs: dict[str, Decimal] = {}
            for e in events:
                if e["cost_gbp"] is not None:
                    costs[e["agency"]] = costs.get(e["agency"], Decimal(0)) + e["cost_gbp"]
            extra = []
            for t in sorted(have - PERSON_CORE - PERSON_NEVER):
                if t.startswith("_") or "person_id" not in engine.columns(t):
                    continue
                rows = self._q(f'SELECT * FROM "{t}" WHERE person_id = ? LIMIT 50', [person_id])
                if rows:
                    extra.append({"table": t, "columns": list(rows[0]), "rows": rows})
        for e in events:
            e["agency_name"] = names.get(e["agency"], e["agency"])
        for r in records:
            r["agency_name"] = names.get(r["agency"], r["agency"])
        return {
            "person": person,
            "records": records,
            "events": events,
            "household": household,
            "members": members,
            "costs": {names.get(k, k): v for k, v in sorted(costs.items())},
            "extra": extra,
        }
