"""What the app's pages show, read from the place's published tables (no computing here).

Aggregate pages reuse the report's sections (already disclosure-controlled); the person page
reads one person's rows across the published tables. One lock serialises store access,
because a DuckDB connection is not shared between threads.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from totalplace.disclosure import Disclosure
from totalplace.report.sections import PARTS, Part, build_section
from totalplace.section import Section, SectionTable

# Tables with a person_id column that the person page shows in their own right, or never.
PERSON_CORE = {"persons", "person_links", "household_members", "linkage_pairs"}
PERSON_NEVER = {"person_id_history"}


class PlaceData:
    """One open place, shared by the app's requests."""

    def __init__(self, place, disclosure: Disclosure | None = None):
        self.place = place
        self.disclosure = disclosure or Disclosure.for_place(place)
        self.lock = threading.RLock()
        self._sections: dict[str, Section] = {}

    @property
    def name(self) -> str:
        return self.place.manifest.name

    # --- aggregates ------------------------------------------------------------------------
    def part(self, key: str) -> Part | None:
        return next((p for p in PARTS if p.key == key), None)

    def section(self, key: str) -> Section:
        with self.lock:
            if key not in self._sections:
                part = self.part(key)
                if part is None:
                    raise KeyError(key)
                self._sections[key] = build_section(self.place, part, self.disclosure)
            return self._sections[key]

    def export_tables(self) -> list[tuple[str, int, SectionTable]]:
        """Every aggregate table of every section that has run: (section key, index, table)."""
        out = []
        for p in PARTS:
            s = self.section(p.key)
            for i, t in enumerate(s.tables):
                out.append((p.key, i, t))
        return out

    # --- one person ------------------------------------------------------------------------
    def _q(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        return self.place.store.engine.query(sql, params).to_pylist()

    def person_exists(self, person_id: str) -> bool:
        with self.lock:
            if not self.place.store.engine.has_table("persons"):
                return False
            return bool(self._q('SELECT 1 FROM "persons" WHERE person_id = ?', [person_id]))

    def person(self, person_id: str) -> dict[str, Any]:
        """Everything the person page shows about one person."""
        with self.lock:
            engine = self.place.store.engine
            have = set(engine.tables())
            names = {a.id: a.name for a in self.place.manifest.agencies}
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
