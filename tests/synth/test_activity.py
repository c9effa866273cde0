"""Realism and truth of Anytown's activity (events, costs, demand, transitions, programme, spend).

Most tests read the shared 20,000-resident place (``anytown_20k``, seed 1) as written to disk,
so they check what a user gets; determinism and unit tests build small places directly.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from totalplace.synth.costs import load_deflator, load_unit_costs
from totalplace.synth.truth import decimal_pounds

RESIDENTS = 20_000  # size of the anytown_20k fixture (tests/conftest.py)
MD_NEEDS = ("homelessness", "offending", "substance", "mental_health")


@pytest.fixture(scope="module")
def place(anytown_20k: Path) -> Path:
    return anytown_20k


@pytest.fixture(scope="module")
def con(place: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with every truth table as a view, and per-person total cost."""
    c = duckdb.connect()
    for p in sorted((place / "truth").glob("*.parquet")):
        c.execute(f"CREATE VIEW {p.stem} AS SELECT * FROM read_parquet('{p}')")
    c.execute(f"""
        CREATE TABLE totals AS
        SELECT r.i AS person_id, coalesce(t.cost, 0)::DOUBLE AS cost
        FROM range({RESIDENTS}) r(i)
        LEFT JOIN (SELECT person_id, sum(cost_gbp) AS cost FROM person_costs GROUP BY 1) t
               ON t.person_id = r.i
    """)
    return c


def one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The first row of a query."""
    return con.execute(sql).fetchall()[0]


def scalar(con: duckdb.DuckDBPyConnection, sql: str):
    """The single value a query returns."""
    return one(con, sql)[0]


def _manifest(place: Path) -> dict:
    return yaml.safe_load((place / "place.yaml").read_text())


def _events_files(place: Path) -> list[tuple[str, dict]]:
    return [
        (a["id"], f)
        for a in _manifest(place)["agencies"]
        for f in a["files"]
        if f["table"] == "events"
    ]


def _read(place: Path, f: dict) -> pa.Table:
    path = place / f["path"]
    if path.suffix == ".parquet":
        return pq.read_table(path)
    opts = pacsv.ParseOptions(delimiter=f.get("delimiter", ","))
    conv = pacsv.ConvertOptions(column_types={}, strings_can_be_null=True)
    read = pacsv.ReadOptions(encoding=f.get("encoding", "utf-8"))
    t = pacsv.read_csv(path, read_options=read, parse_options=opts, convert_options=conv)
    return t.cast(pa.schema([pa.field(n, pa.string()) for n in t.column_names]))


# ----------------------------------------------------------------------------- unit costs


def test_unit_costs_have_source_price_year_and_bearer_and_are_uprated():
    deflator = load_deflator()
    costs = load_unit_costs("2025/26")
    assert len(costs.items) >= 25
    for u in costs.items.values():
        assert u.source and u.bears and u.price_year in deflator, u
        assert u.uprated_gbp > 0
        # older prices are uprated, never deflated (the deflator rises to 2025/26)
        assert u.uprated_gbp >= u.cost_gbp, u
    ae = costs.get("ae_not_admitted")
    assert ae.cost_gbp == Decimal("95") and ae.price_year == "2011/12" and ae.check
    assert ae.uprated_gbp == (Decimal(95) * deflator["2025/26"] / deflator["2011/12"]).quantize(
        Decimal("0.01")
    )


def test_decimal_pounds_is_exact():
    arr = decimal_pounds(np.array([0, 1, 99, 100, 123456789012, -250], dtype=np.int64))
    assert arr.to_pylist() == [
        Decimal("0.00"),
        Decimal("0.01"),
        Decimal("0.99"),
        Decimal("1.00"),
        Decimal("1234567890.12"),
        Decimal("-2.50"),
    ]


# ----------------------------------------------------------------------------- costs


def test_every_costed_event_has_a_positive_cost_and_exists_in_an_extract(place: Path, con):
    assert scalar(con, "SELECT count(*) FROM event_costs WHERE cost_gbp <= 0") == 0
    # Every A&E attendance carries a unit cost, so each one must be in event_costs.
    ae = [f for _, f in _events_files(place) if f["path"].endswith("ae_attendances.csv")][0]
    con.register("ae_ids", pa.table({"event_id": _read(place, ae).column("AttendanceID")}))
    missing = scalar(
        con,
        """
        SELECT count(*) FROM ae_ids a
        LEFT JOIN (SELECT event_id FROM event_costs WHERE agency = 'acute') e USING (event_id)
        WHERE e.event_id IS NULL""",
    )
    assert missing == 0
    # Agencies whose every event has a unit cost: each of their events is costed.
    for agency in ("acute", "council_contact"):
        rows = sum(_read(place, f).num_rows for a, f in _events_files(place) if a == agency)
        costed = scalar(con, f"SELECT count(*) FROM event_costs WHERE agency = '{agency}'")
        assert rows == costed > 0, (agency, rows, costed)
    # Costs split by year add up exactly to the costs by event.
    a, b = one(
        con,
        """SELECT (SELECT sum(cost_gbp) FROM event_costs),
                              (SELECT sum(cost_gbp) FROM person_costs)""",
    )
    assert a == b and a > 0


def test_event_source_ids_point_to_the_right_person(place: Path, con):
    ae = [f for _, f in _events_files(place) if f["path"].endswith("ae_attendances.csv")][0]
    con.register("ae_ev", _read(place, ae).select(["AttendanceID", "PatientID"]))
    bad = scalar(
        con,
        """
        SELECT count(*) FROM ae_ev e
        JOIN event_costs c ON c.agency = 'acute' AND c.event_id = e."AttendanceID"
        LEFT JOIN source_records s ON s.agency = 'acute' AND s.source_id = e."PatientID"
        WHERE s.person_id IS NULL OR s.person_id <> c.person_id""",
    )
    assert bad == 0


def test_cost_is_concentrated(con):
    top1, top5 = one(
        con,
        """
        WITH r AS (SELECT cost, row_number() OVER (ORDER BY cost DESC) AS rn,
                          sum(cost) OVER () AS total, count(*) OVER () AS n FROM totals)
        SELECT sum(cost) FILTER (WHERE rn <= 0.01 * n) / max(total),
               sum(cost) FILTER (WHERE rn <= 0.05 * n) / max(total) FROM r""",
    )
    assert top1 >= 0.20, top1
    assert top5 >= 0.45, top5
    # ... but not absurdly so: the rest of the place uses services too.
    assert top5 <= 0.85, top5


def test_multiple_disadvantage_costs_more_than_ten_times_the_median(con):
    med_all, med_md, n_md = one(
        con,
        """
        WITH n AS (
            SELECT person_id, count(DISTINCT CASE WHEN need IN ('alcohol', 'drugs')
                                             THEN 'substance' ELSE need END) AS k
            FROM needs
            WHERE need IN ('homelessness', 'offending', 'alcohol', 'drugs', 'mental_health')
            GROUP BY 1)
        SELECT median(t.cost), median(t.cost) FILTER (WHERE n.k >= 3),
               count(*) FILTER (WHERE n.k >= 3)
        FROM totals t LEFT JOIN n USING (person_id)""",
    )
    assert n_md >= 20
    assert med_all > 0, "median resident must have some cost, or the ratio means nothing"
    assert med_md > 10 * med_all, (med_md, med_all)


def test_high_cost_only_partly_persists(con):
    top = RESIDENTS * 0.05
    share = scalar(
        con,
        f"""
        WITH y AS (SELECT person_id, year, sum(cost_gbp)::DOUBLE AS c
                   FROM person_costs GROUP BY ALL),
        f AS (SELECT r.i AS person_id, coalesce(a.c, 0) AS c1, coalesce(b.c, 0) AS c2
              FROM range({RESIDENTS}) r(i)
              LEFT JOIN y a ON a.person_id = r.i AND a.year = '2023/24'
              LEFT JOIN y b ON b.person_id = r.i AND b.year = '2024/25'),
        r AS (SELECT row_number() OVER (ORDER BY c1 DESC, person_id) AS r1,
                     row_number() OVER (ORDER BY c2 DESC, person_id) AS r2 FROM f)
        SELECT count(*) FILTER (WHERE r1 <= {top} AND r2 <= {top})
               / count(*) FILTER (WHERE r1 <= {top}) FROM r""",
    )
    assert 0.30 <= share <= 0.60, share


# ----------------------------------------------------------------------------- demand

FAILURE_CATEGORIES = {
    "progress chasing",
    "not done",
    "not done right",
    "did not understand letter",
    "repeat contact",
}


def test_failure_demand_share_by_service_and_overall(con):
    rows = con.execute("""SELECT service, count(*), avg((demand_type = 'failure')::INT)
                          FROM contacts GROUP BY 1""").fetchall()
    assert len(rows) >= 8
    for service, n, share in rows:
        assert n >= 200, (service, n)
        assert 0.30 <= share <= 0.70, (service, share)
    overall = scalar(con, "SELECT avg((demand_type = 'failure')::INT) FROM contacts")
    assert 0.30 <= overall <= 0.70
    sql = "SELECT DISTINCT category FROM contacts WHERE demand_type = 'failure'"
    assert FAILURE_CATEGORIES <= {r[0] for r in con.execute(sql).fetchall()}
    sql = "SELECT DISTINCT demand_type FROM contacts ORDER BY 1"
    assert con.execute(sql).fetchall() == [("failure",), ("value",)]


def test_failure_demand_follows_an_earlier_contact_often_after_a_handoff(place: Path, con):
    f = [f for _, f in _events_files(place) if f["path"].endswith("contacts.csv")][0]
    con.register("cc", _read(place, f))
    fmt = "%Y/%m/%d %H:%M:%S"
    # cs/ps.person_id is NULL when a web form was anonymous.
    bad, pairs, same_person = one(
        con,
        f"""
        SELECT count(*) FILTER (WHERE strptime(parent."ContactDateTime", '{fmt}')
                                      >= strptime(child."ContactDateTime", '{fmt}')
                                   OR parent."Service" <> child."Service"
                                   OR cs.person_id <> ps.person_id),
               count(*), count(*) FILTER (WHERE cs.person_id = ps.person_id)
        FROM contacts t
        JOIN cc child ON child."ContactID" = t.event_id
        JOIN cc parent ON parent."ContactID" = t.follows_event_id
        LEFT JOIN source_records cs
               ON cs.agency = 'council_contact' AND cs.source_id = child."CustomerNo"
        LEFT JOIN source_records ps
               ON ps.agency = 'council_contact' AND ps.source_id = parent."CustomerNo"
    """,
    )
    assert bad == 0
    assert pairs > 1000 and same_person > 0.8 * pairs
    share_after_handoff, with_parent = one(
        con,
        """
        SELECT avg(after_handoff::INT), avg((follows_event_id IS NOT NULL)::INT)
        FROM contacts WHERE demand_type = 'failure'""",
    )
    assert with_parent == 1.0
    assert 0.3 <= share_after_handoff <= 0.95
    # The handoff is visible in the extract: the earlier contact was passed to a back office.
    passed = scalar(
        con,
        """
        SELECT avg((p."Outcome" = 'Passed to back office')::INT)
        FROM contacts t JOIN cc p ON p."ContactID" = t.follows_event_id
        WHERE t.after_handoff""",
    )
    assert passed == 1.0


def test_contact_reasons_are_varied_free_text_with_typos(place: Path):
    f = [f for _, f in _events_files(place) if f["path"].endswith("contacts.csv")][0]
    reasons = _read(place, f).column("Reason").to_pylist()
    assert all(r for r in reasons)
    first = reasons[:1000]
    assert len(set(first)) >= 400, len(set(first))
    misspelt = re.compile(
        r"\b(recieved|definately|tommorow|seperate|untill|beleive|adress|accomodation|wich|"
        r"appointmnet|concil|becuase|colection|aplication|benifit|shoud)\b",
        re.I,
    )
    n = len(reasons)
    assert sum(bool(misspelt.search(r)) for r in reasons) > 0.002 * n
    assert sum(r == r.lower() and any(ch.isalpha() for ch in r) for r in reasons) > 0.03 * n
    # Failure demand reads like failure demand.
    assert any(re.search(r"chas|still|again|nobody|no one", r, re.I) for r in reasons)


# ----------------------------------------------------------------------------- journeys


def test_transitions_follow_up_effect_is_built_in(con):
    kinds = {r[0] for r in con.execute("SELECT DISTINCT kind FROM transitions").fetchall()}
    assert {"hospital_discharge", "prison_release"} <= kinds
    rows = dict(
        con.execute("""
        SELECT followed_up, avg(adverse_outcome::INT) FROM transitions
        WHERE kind = 'hospital_discharge' AND observed_days >= 30 GROUP BY 1""").fetchall()
    )
    assert rows[False] - rows[True] >= 0.06, rows
    worst = scalar(
        con,
        """SELECT max(followed_up_within_days) FROM transitions
                           WHERE kind = 'hospital_discharge' AND followed_up""",
    )
    assert worst <= 7
    sql = "SELECT count(*) FROM transitions WHERE followed_up = (followed_up_within_days IS NULL)"
    assert scalar(con, sql) == 0
    # The index events are real events in an agency's extract.
    sql = "SELECT count(*) FROM transitions WHERE event_id IS NULL OR agency IS NULL"
    assert scalar(con, sql) == 0


def test_programme_joiners_were_selected_on_high_use_and_the_true_effect_is_recorded(
    place: Path, con
):
    sql = "SELECT joined, avg(prior_ae_attendances) FROM programme GROUP BY 1"
    j = dict(con.execute(sql).fetchall())
    assert j[True] > 1.3 * j[False], j
    n_join, ratio, saved = one(
        con,
        """
        SELECT count(*), max(effect_rate_ratio),
               sum(counterfactual_cost_after_gbp - cost_after_gbp)
        FROM programme WHERE joined""",
    )
    assert n_join >= 5 and ratio == 0.7 and saved > 0
    wrong = scalar(
        con,
        """
        SELECT count(*) FROM programme
        WHERE counterfactual_cost_after_gbp < cost_after_gbp
           OR (NOT joined AND counterfactual_cost_after_gbp <> cost_after_gbp)""",
    )
    assert wrong == 0
    # Membership shows in the drug and alcohol service's extract as an ordinary activity.
    f = [f for a, f in _events_files(place) if a == "substance"][0]
    acts = _read(place, f).column("Activity").to_pylist()
    assert acts.count("Enrolled: High Intensity Use programme") == n_join


# ----------------------------------------------------------------------------- spend


def test_spend_files_reconcile_exactly_with_their_lines_and_differ_from_activity(place: Path, con):
    agencies = _manifest(place)["agencies"]
    spend_files = [(a["id"], f) for a in agencies for f in a["files"] if f["table"] == "spend"]
    assert len(spend_files) >= 10
    for agency, f in spend_files:
        t = _read(place, f)
        total = sum(Decimal(v) for v in t.column(f["columns"]["amount_gbp"]).to_pylist())
        truth = scalar(con, f"SELECT sum(amount_gbp) FROM spend WHERE agency = '{agency}'")
        assert total == truth, (agency, total, truth)
        categories = set(t.column(f["columns"]["category"]).to_pylist())
        assert categories <= {"front line", "support", "buildings"}
    # Lines are in cash; compare with activity in the price year through the real amounts.
    cash_not_below_real = scalar(
        con,
        """
        SELECT count(*) FROM spend
        WHERE year < '2025/26' AND amount_gbp >= amount_real_gbp AND amount_real_gbp > 0""",
    )
    assert cash_not_below_real == 0
    rows = con.execute("""SELECT agency, sum(amount_real_gbp) / sum(activity_cost_gbp) FROM spend
                          WHERE activity_cost_gbp > 0 GROUP BY 1""").fetchall()
    for agency, ratio in rows:
        assert Decimal("1.0") < ratio < Decimal("1.4"), (agency, ratio)


# ----------------------------------------------------------------------------- formats


def test_each_agency_has_its_own_event_layout(place: Path):
    files = _events_files(place)
    assert len({a for a, _ in files}) >= 11
    headers = [tuple(sorted(_read(place, f).column_names)) for _, f in files]
    assert len(set(headers)) == len(headers)
    formats = {
        c.get("format")
        for _, f in files
        for c in [f["columns"].get("start_at")]
        if isinstance(c, dict)
    }
    assert len(formats) >= 8


def test_same_seed_same_activity():
    from totalplace.synth.activity import make_activity
    from totalplace.synth.population import Period, make_population
    from totalplace.synth.records import RecordPlan

    def run(seed: int):
        pop = make_population(2_000, np.random.default_rng(seed), Period())
        return make_activity(
            pop, RecordPlan(pop, np.random.default_rng(seed + 1)), np.random.default_rng(seed + 2)
        )

    a, b, c = run(5), run(5), run(6)
    assert [f.path for f in a.files] == [f.path for f in b.files]
    for fa, fb in zip(a.files, b.files, strict=True):
        assert fa.data.equals(fb.data), fa.path
    for k in a.truth:
        assert a.truth[k].equals(b.truth[k]), k
    assert not a.truth["event_costs"].equals(c.truth["event_costs"])


def test_contact_templates_are_complete():
    from totalplace.synth.contacts import _SLOT, FAILURE, templates

    cfg = templates()
    assert set(cfg["failure_templates"]) == set(FAILURE)
    for name, svc in cfg["services"].items():
        assert 0.30 <= svc["failure_share"] <= 0.70, name
        assert 0.0 <= svc["handoff"] <= 1.0, name
        slots = set(cfg["common"]) | set(svc["slots"])
        extra = cfg.get("extra_value", {}).get(name, {})
        assert set(extra) <= set(svc["value"]), (name, set(extra) - set(svc["value"]))
        texts = [t for v in svc["value"].values() for t in v]
        texts += [t for v in extra.values() for t in v]
        texts += [t for v in cfg["failure_templates"].values() for t in v]
        missing = {m for t in texts for m in _SLOT.findall(t)} - slots
        assert not missing, (name, missing)


def test_layouts_map_only_their_own_columns_to_canonical_ones():
    from totalplace.synth.layouts import LAYOUTS, layout_sql
    from totalplace.tables import EVENTS

    for lay in LAYOUTS:
        for canon, spec in lay.mapping.items():
            assert canon in EVENTS.mappable, (lay.path, canon)
            col = spec if isinstance(spec, str) else spec.get("column")
            assert col is None or col in lay.cols, (lay.path, col)
        sql = layout_sql(lay, {"uid", "src", "st", "en", "cost", "etype", "seq"})
        assert sql.startswith("SELECT uid, ") and sql.endswith("FROM ev")
        # An attribute the events lack becomes NULL rather than an error.
        assert all(f'AS "{c}"' in sql for c in lay.cols)


def test_split_years_keeps_every_penny():
    import datetime as dt

    from totalplace.synth.events import Batch
    from totalplace.synth.model import DAY, Grid
    from totalplace.synth.truth import split_years

    grid = Grid.of(dt.date(2023, 4, 1), dt.date(2026, 3, 31))
    start = np.array([grid.start - 100, grid.start + 300, grid.start + 10, grid.end - 5]) * DAY
    end = np.array([grid.start + 500, -1, grid.start + 10, -1])
    end = np.where(end > 0, end * DAY, -1)
    cost = np.array([100_001, 700_003, 5_000, 999], dtype=np.int64)
    b = Batch("x", "home_care", np.arange(4), start, end, cost)
    rows, years, pence = split_years(b, grid)
    assert np.bincount(rows, weights=pence, minlength=4).astype(np.int64).tolist() == cost.tolist()
    # The first episode spans two financial years; the open one runs to the period end.
    assert sorted(years[rows == 0].tolist()) == [0, 1]
    assert sorted(years[rows == 1].tolist()) == [0, 1, 2]


def test_time_patterns_weekdays_and_seasons(place: Path, con):
    f = [f for _, f in _events_files(place) if f["path"].endswith("contacts.csv")][0]
    con.register("cc2", _read(place, f))
    by_channel = dict(
        con.execute("""
        SELECT "Channel", avg((dayofweek(strptime("ContactDateTime", '%Y/%m/%d %H:%M:%S'))
                               IN (0, 6))::INT)
        FROM cc2 GROUP BY 1""").fetchall()
    )
    assert by_channel["Telephone"] == 0 and by_channel["Face to face"] == 0
    assert by_channel["Web form"] > 0.15  # people fill in forms at weekends
    ae = [f for _, f in _events_files(place) if f["path"].endswith("ae_attendances.csv")][0]
    con.register("ae2", _read(place, ae))
    winter, summer = one(
        con,
        """
        WITH a AS (SELECT strptime("ArrivalDateTime", '%d/%m/%Y %H:%M') AS t FROM ae2)
        SELECT count(*) FILTER (WHERE month(t) IN (12, 1, 2)),
               count(*) FILTER (WHERE month(t) IN (6, 7, 8)) FROM a""",
    )
    assert winter > 1.1 * summer, (winter, summer)


def _ts_sql(columns: dict, key: str) -> str:
    """SQL for a mapped timestamp column (parsed with its format when it is text)."""
    spec = columns.get(key)
    if spec is None:
        return "NULL"
    if isinstance(spec, str):
        return f'"{spec}"::TIMESTAMP'
    return f"""strptime("{spec["column"]}", '{spec["format"]}')"""


def test_no_event_ends_before_it_starts_or_falls_outside_the_period(place: Path):
    c = duckdb.connect()
    for _, f in _events_files(place):
        c.register("t", _read(place, f))
        start, end = _ts_sql(f["columns"], "start_at"), _ts_sql(f["columns"], "end_at")
        bad, outside = c.execute(f"""
            SELECT count(*) FILTER (WHERE {end} < {start}),
                   count(*) FILTER (WHERE {start} >= TIMESTAMP '2026-04-01'
                                       OR {end} < TIMESTAMP '2023-04-01')
            FROM t""").fetchall()[0]
        assert bad == 0, (f["path"], bad)
        assert outside == 0, (f["path"], outside)
        c.unregister("t")


def test_event_ids_follow_time_not_people(place: Path, con):
    """Event ids are numbered in time order within a file, so they carry no truth."""
    ae = [f for _, f in _events_files(place) if f["path"].endswith("ae_attendances.csv")][0]
    con.register("ae3", _read(place, ae))
    out_of_order = scalar(
        con,
        """
        WITH a AS (SELECT "AttendanceID" AS id,
                          strptime("ArrivalDateTime", '%d/%m/%Y %H:%M') AS t FROM ae3)
        SELECT count(*) FROM (SELECT t, lag(t) OVER (ORDER BY id) AS prev FROM a)
        WHERE t < prev""",
    )
    assert out_of_order == 0
    # ... and an event id never embeds the true person id.
    leaks = scalar(
        con,
        """SELECT count(*) FROM event_costs
           WHERE TRY_CAST(regexp_extract(event_id, '(\\d+)$', 1) AS BIGINT) = person_id""",
    )
    assert leaks < 0.01 * scalar(con, "SELECT count(*) FROM event_costs")
