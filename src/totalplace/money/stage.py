"""The money stage: the count of all public money in the place, in one price year."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from totalplace.money.count import count_sql, finish, real_terms, spend_lines_sql
from totalplace.money.settings import MoneySettings, money_settings


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

    def price_year(self, years: list[str]) -> str:
        s = self.settings
        return s.price_year or self.place.manifest.price_year or max(years)

    def population(self) -> tuple[int | None, str]:
        s = self.settings
        if s.population:
            return s.population, "place.yaml money.population"
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
            years = sorted(set(lines.column("year").to_pylist()))
            if not years:
                price_year = self.place.manifest.price_year or settings.price_year or "2025/26"
            else:
                price_year = self.price_year(years)
            population, pop_source = self.population()
            detail = real_terms(lines, price_year, set(settings.prevention_services))
            engine.register("_tp_money_detail", detail)
            try:
                summed = engine.query(count_sql("_tp_money_detail"))
            finally:
                engine.run('DROP VIEW IF EXISTS "_tp_money_detail"')
            count = finish(summed, price_year, population)
            tables: dict[str, Any] = {"money_count": count}
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
            summary=[headline, *summary],
            detail=run.detail,
            headline=headline,
        )
