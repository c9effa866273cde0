"""The count: money_count equals the truth's spend to the penny, by agency and year."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from totalplace.money.count import count_sql, finish, per_head, real_terms
from totalplace.money.stage import fmt_gbp
from totalplace.place import Place


def _lines(rows):
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("year", pa.string()),
                ("funder", pa.string()),
                ("agency", pa.string()),
                ("theme", pa.string()),
                ("service", pa.string()),
                ("category", pa.string()),
                ("amount_gbp", pa.decimal128(18, 2)),
            ]
        ),
    )


def test_real_terms_uprates_each_line_exactly():
    lines = _lines(
        [
            dict(
                year="2023/24",
                funder="F",
                agency="a",
                theme="t",
                service="s",
                category="front line",
                amount_gbp=Decimal("100.00"),
            ),
            dict(
                year="2025/26",
                funder="F",
                agency="a",
                theme="t",
                service="p",
                category="front line",
                amount_gbp=Decimal("0.10"),
            ),
        ]
    )
    d = {"2023/24": Decimal("90"), "2025/26": Decimal("100")}
    out = real_terms(lines, "2025/26", {"p"}, d)
    assert out.column("amount_real_gbp").to_pylist() == [Decimal("111.11"), Decimal("0.10")]
    assert out.column("prevention").to_pylist() == [False, True]


def test_real_terms_refuses_a_year_the_deflator_lacks():
    lines = _lines(
        [
            dict(
                year="1890/91",
                funder="F",
                agency="a",
                theme="t",
                service="s",
                category="support",
                amount_gbp=Decimal("1.00"),
            )
        ]
    )
    with pytest.raises(ValueError, match="1890/91"):
        real_terms(lines, "2025/26")


def test_count_sql_sums_exact_decimals_and_changes(tmp_path):
    import duckdb

    lines = _lines(
        [
            dict(
                year=y,
                funder="F",
                agency=a,
                theme="t",
                service="s",
                category="support",
                amount_gbp=Decimal(v),
            )
            for y, a, v in [
                ("2024/25", "a", "0.10"),
                ("2024/25", "b", "0.20"),
                ("2025/26", "a", "0.30"),
                ("2025/26", "b", "0.05"),
            ]
        ]
    )
    d = {"2024/25": Decimal("100"), "2025/26": Decimal("100")}
    detail = real_terms(lines, "2025/26", deflator=d)
    con = duckdb.connect()
    con.register("detail", detail)
    out = finish(con.sql(count_sql("detail")).to_arrow_table(), "2025/26", 3)
    place = [r for r in out.to_pylist() if r["level"] == "place"]
    assert [r["amount_gbp"] for r in place] == [Decimal("0.30"), Decimal("0.35")]
    assert place[1]["change_real_gbp"] == Decimal("0.05")
    assert place[1]["per_head_real_gbp"] == Decimal("0.12")
    agency_b = [r for r in out.to_pylist() if r["level"] == "agency" and r["agency"] == "b"]
    assert agency_b[1]["change_real_gbp"] == Decimal("-0.15")


def test_per_head_and_headline_money():
    assert per_head(Decimal("10.00"), 3) == Decimal("3.33")
    assert per_head(Decimal("10.00"), None) is None
    assert fmt_gbp(Decimal("1900000000")) == "£1.9bn"
    assert fmt_gbp(Decimal("-14200000")) == "-£14.2m"


@pytest.mark.slow
def test_count_equals_the_truth_to_the_penny(linked_place):
    truth = pq.read_table(linked_place / "truth" / "spend.parquet").to_pylist()
    with Place.open(linked_place) as place:
        result = place.money.run()
        engine = place.store.engine
        rows = engine.query(
            "SELECT year, agency, amount_gbp, amount_real_gbp, lines, population "
            "FROM money_count WHERE level = 'agency'"
        ).to_pylist()
        persons = engine.scalar("SELECT count(*) FROM persons")
        declared = (place.manifest.people or {}).get("population")
    want: dict[tuple[str, str], list[Decimal]] = {}
    for t in truth:
        w = want.setdefault((t["year"], t["agency"]), [Decimal(0), Decimal(0), 0])
        w[0] += t["amount_gbp"]
        w[1] += t["amount_real_gbp"]
        w[2] += 1
    got = {(r["year"], r["agency"]): r for r in rows}
    assert set(got) == set(want)
    for key, (cash, real, n) in want.items():
        assert got[key]["amount_gbp"] == cash, key  # to the penny
        assert got[key]["lines"] == n
        # Truth's cash is its real amount deflated and rounded; uprating back may differ
        # by at most a penny a line.
        assert abs(got[key]["amount_real_gbp"] - real) <= Decimal("0.01") * n, key
    # The residents the place declares (synth writes people.population), else persons linked.
    assert rows[0]["population"] == (declared or persons)
    assert "of public money counted" in result.headline


@pytest.mark.slow
def test_section_names_its_sources_and_draws_the_sankey(linked_place):
    from totalplace.disclosure import Disclosure
    from totalplace.money import section

    with Place.open(linked_place) as place:
        assert section(place, Disclosure()).status == "not run"
        place.money.run()
        s = section(place, Disclosure())
    assert s.headlines and all("source:" in h for h in s.headlines)
    assert s.figures[0].figure.data[0].type == "sankey"
    assert all(t.source for t in s.tables) and all(f.source for f in s.figures)
