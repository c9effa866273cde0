"""``People``: the place stage (see the package docstring for what it publishes)."""

from __future__ import annotations

from typing import Any

from totalplace.engine import SqlStep
from totalplace.errors import ManifestError
from totalplace.place import StageResult
from totalplace.people import costs, needs
from totalplace.people.settings import PeopleSettings, load_settings
from totalplace.prices import load_deflator

INPUTS = ("events", "person_links", "persons", "household_members")


class People:
    """The people stage of one place: ``place.people.run()``."""

    def __init__(self, place):
        self.place = place
        self._settings: PeopleSettings | None = None

    # --- settings -------------------------------------------------------------------------
    @property
    def settings(self) -> PeopleSettings:
        if self._settings is None:
            self._settings = load_settings(self.place.manifest)
        return self._settings

    @property
    def price_year(self) -> str:
        return self.place.manifest.price_year or max(load_deflator())

    @property
    def period(self):
        p = self.place.manifest.period
        return (p.start, p.end)

    def unit_costs(self) -> dict[str, costs.UnitCost]:
        root = self.place.manifest.root
        return costs.load_unit_cost_table(self.settings.path(root, "unit_costs"), self.price_year)

    def cost_rules(self, table: dict[str, costs.UnitCost] | None = None) -> list[costs.CostRule]:
        root = self.place.manifest.root
        path = self.settings.path(root, "cost_rules")
        rules = costs.load_cost_rules(path)
        problems = costs.check_rules(rules, table if table is not None else self.unit_costs())
        if problems:
            raise ManifestError(str(path or "totalplace/people/data/cost_rules.yaml"), problems)
        return rules

    def needs_mapping(self) -> needs.NeedsMapping:
        return needs.load_needs_mapping(self.settings.path(self.place.manifest.root, "needs"))

    # --- the run ----------------------------------------------------------------------------
    def run(self, **options: Any) -> StageResult:
        store = self.place.store
        eng = store.engine
        store.require(*INPUTS)
        table = self.unit_costs()
        rules = self.cost_rules(table)
        mapping = self.needs_mapping()
        with store.stage_run("people") as run:
            eng.register(costs.RULES_TABLE, costs.rules_table(rules, table))
            tz = self.place.manifest.timezone
            for step in costs.event_costs_sqls(rules, self.period, tz):
                _temp(
                    eng,
                    step.output_table
                    if step.output_table != "event_costs"
                    else "_people_event_costs",
                    step.sql,
                )
            _temp(
                eng,
                "_people_person_costs",
                costs.person_costs_sql(self.period, "_people_event_costs"),
            )
            _temp(eng, "_people_household_costs", costs.household_costs_sql("_people_person_costs"))
            _temp(
                eng,
                "_people_person_needs",
                needs.person_needs_sql(mapping, self.period[1], "_people_event_costs"),
            )
            tables = {
                "event_costs": "SELECT * FROM _people_event_costs",
                "person_costs": "SELECT * FROM _people_person_costs",
                "household_costs": "SELECT * FROM _people_household_costs",
                "person_needs": "SELECT * FROM _people_person_needs",
            }
            counts = store.publish(tables)
            detail = self._cost_detail(eng)
            detail["untraced_needs"] = needs.untraced_needs(mapping)
            detail["people_per_need"] = {
                r["need"]: r["people"] for r in eng.query(needs.needs_summary_sql()).to_pylist()
            }
            run.rows = {k: {"out": v} for k, v in counts.items()}
            run.detail = detail
        summary = [
            f"{detail['events']:,} events: {detail['costed']:,} costed "
            f"(£{detail['total_gbp']:,.0f} in {self.price_year} prices), "
            f"{detail['no_unit_cost']:,} with no unit cost (reasons in event_costs)",
        ]
        return StageResult("people", counts, summary, detail, summary[0])

    def _cost_detail(self, eng) -> dict[str, Any]:
        t = eng.query(
            "SELECT count(*) AS n, count(cost_gbp) AS costed, "
            "count(*) FILTER (WHERE cost_gbp IS NOT NULL AND person_id IS NULL) AS unlinked, "
            "CAST(coalesce(sum(cost_gbp), 0) AS VARCHAR) AS total FROM event_costs"
        ).to_pylist()[0]
        reasons = eng.query(
            "SELECT reason, count(*) AS n FROM event_costs WHERE reason IS NOT NULL "
            "GROUP BY reason ORDER BY n DESC, reason"
        ).to_pylist()
        return {
            "events": t["n"],
            "costed": t["costed"],
            "no_unit_cost": t["n"] - t["costed"],
            "costed_unlinked": t["unlinked"],
            "total_gbp": float(t["total"]),
            "total_gbp_exact": t["total"],
            "price_year": self.price_year,
            "no_cost_reasons": {r["reason"]: r["n"] for r in reasons},
        }


def _temp(eng, name: str, sql: str) -> None:
    eng.run(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')


__all__ = ["People", "SqlStep"]
