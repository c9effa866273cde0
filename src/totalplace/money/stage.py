"""The money stage: the count of all public money in the place, in one price year."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from totalplace.money import ties
from totalplace.money.count import count_sql, finish, real_terms, spend_lines_sql
from totalplace.money.settings import MoneySettings, money_settings
from totalplace.prices import load_deflator


def fmt_gbp(amount: Decimal | None) -> str:
    """£1.9bn, £14.2m, £35k, £512 (for headlines; tables show exact pounds)."""
    if amount is None:
        return "not known"
    a = Decimal(amount)
    sign = "-" if a < 0 else ""
    a = abs(a)
    for size, unit in ((Decimal(10) ** 9, "bn"), (Decimal(10) ** 6, "m"), (Decimal(10) ** 3, "k")):
        if a >= size:
            return f"{sign}£{a / size:,.1f}{unit}"
    return f"{sign}£{a:,.0f}"


class Money:
    """Count all public money in the place (from ``spend``), by funder, agency, theme, service.

    >>> from totalplace import Place
    >>> with Place.open("anytown") as place:          # doctest: +SKIP
    ...     print(place.money.run().headline)
    """

    def __init__(self, place):
        self.place = place

    @property
    def settings(self) -> MoneySettings:
        return money_settings(self.place.manifest.money, str(self.place.root / "place.yaml"))

    def price_year(self) -> str:
        """money.price_year, else the place's price_year, else the deflator's latest year
        (the same default as the people stage, so activity costs and spend share one)."""
        s = self.settings
        return s.price_year or self.people_price_year

    @property
    def people_price_year(self) -> str:
        return self.place.manifest.price_year or max(load_deflator())

    def population(self) -> tuple[int | None, str]:
        s = self.settings
        if s.population:
            return s.population, "place.yaml money.population"
        people_pop = (self.place.manifest.people or {}).get("population")
        if isinstance(people_pop, int) and people_pop > 0:
            return people_pop, "place.yaml people.population"
        engine = self.place.store.engine
        if engine.has_table("persons"):
            return int(engine.scalar('SELECT count(*) FROM "persons"')), "persons"
        return None, "not known (no persons table and no money.population in place.yaml)"

    def run(self, **_opts: Any):
        from totalplace.place import StageResult

        store = self.place.store
        engine = store.engine
        store.require("spend")
        settings = self.settings
        with store.stage_run("money") as run:
            lines = engine.query(spend_lines_sql())
            price_year = self.price_year()
            population, pop_source = self.population()
            detail = real_terms(lines, price_year, set(settings.prevention_services))
            engine.register("_tp_money_detail", detail)
            try:
                summed = engine.query(count_sql("_tp_money_detail"))
            finally:
                engine.run('DROP VIEW IF EXISTS "_tp_money_detail"')
            count = finish(summed, price_year, population)
            tables: dict[str, Any] = {"money_count": count}
            ties = self._ties(count, price_year, population)
            tables.update(ties)
            counts = store.publish(tables)
            run.rows = {k: {"out": v} for k, v in counts.items()}
            run.rows["spend"] = {"in": lines.num_rows}
            place_rows = [r for r in count.to_pylist() if r["level"] == "place"]
            run.detail = {
                "price_year": price_year,
                "population": population,
                "population_source": pop_source,
            }
        summary = []
        if "activity_costs" not in counts:
            summary.append(
                "activity-based costs not computed: the people stage has not run (no event_costs)"
            )
        if "failure_demand_costs" not in counts:
            summary.append(
                "cost of failure demand not computed: the demand stage has not run (no demand)"
            )
        for r in place_rows:
            ph = f", {fmt_gbp(r['per_head_real_gbp'])} per head" if r["per_head_real_gbp"] else ""
            summary.append(
                f"{r['year']}: {fmt_gbp(r['amount_gbp'])} cash = "
                f"{fmt_gbp(r['amount_real_gbp'])} in {price_year} prices{ph}"
            )
        latest = place_rows[-1] if place_rows else None
        headline = (
            f"{fmt_gbp(latest['amount_real_gbp'])} of public money counted in {latest['year']} "
            f"({price_year} prices) from {lines.num_rows:,} spend lines"
            if latest
            else "no spend lines to count"
        )
        return StageResult(
            stage="money",
            tables=counts,
            summary=[headline, *summary, *self._tie_lines(counts)],
            detail=run.detail,
            headline=headline,
        )

    # --- the ties to demand and people ---------------------------------------------------
    def _ties(self, count, price_year: str, population: int | None) -> dict[str, Any]:
        engine = self.place.store.engine
        out: dict[str, Any] = {}
        if not engine.has_table("event_costs"):
            return out
        period = (self.place.manifest.period.start, self.place.manifest.period.end)
        activity = engine.query(ties.activity_by_year_sql(period)).to_pylist()
        conc, n1, n5 = None, None, None
        if engine.has_table("person_costs") and population:
            n1, n5 = ties.top_people(population, 0.01), ties.top_people(population, 0.05)
            conc = engine.query(ties.concentration_sql(n1, n5)).to_pylist()
        out["activity_costs"] = ties.activity_costs(
            count.to_pylist(), activity, conc, self.people_price_year, price_year, n1, n5
        )
        if engine.has_table("demand"):
            fd = ties.failure_demand_costs(engine, self.people_price_year, price_year)
            if fd is not None:
                out["failure_demand_costs"] = fd
        return out

    def _tie_lines(self, counts: dict[str, int]) -> list[str]:
        engine = self.place.store.engine
        lines = []
        if "activity_costs" in counts:
            rows = engine.query(
                "SELECT sum(activity_cost_gbp) AS a, sum(front_line_real_gbp) AS f, "
                "min(year) AS y0, max(year) AS y1 FROM activity_costs"
            ).to_pylist()[0]
            if rows["f"]:
                lines.append(
                    f"{rows['y0']} to {rows['y1']}: activity at unit cost explains "
                    f"{fmt_gbp(rows['a'])} of {fmt_gbp(rows['f'])} front-line spend "
                    f"({rows['a'] / rows['f'] * 100:.0f}%); the rest is shown as unexplained "
                    "in activity_costs"
                )
        return lines
