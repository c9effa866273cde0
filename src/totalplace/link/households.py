"""Households: the persons who live at the same address in the same period.

Total Place asks services to see families, not just individuals. Once records are linked
into persons, this module groups persons by where they live:

1. *Address key* for every source record: its UPRN where it has one; else its normalised
   address (capitals, no punctuation, street types abbreviated, town and county names --
   found in the data as frequent last parts of addresses -- removed) and postcode, mapped to the UPRN that other records with the same normalised
   address and postcode carry (so an agency without UPRNs still lands on the same dwelling);
   else the normalised address and postcode themselves; else none (no usable address).
2. *Residences*: one row per (person, address key), from the earliest ``valid_from`` to the
   latest ``valid_to`` of the person's records there (missing dates mean "not known": an
   unknown start is treated as "always", an unknown end as "still there").
3. *Households*: at each address, residences whose periods overlap form one household (the
   classic gaps-and-islands grouping). ``household_id`` is ``H`` + a sequence in address order,
   so the same data gives the same ids; ids are not carried between runs.
4. Each person's *current* household: the residence that is still open (or ended last); among
   undated ones, the household with most people, then the one with most of the person's
   records. Why people first: a family that moved is mostly seen at its new home, while
   stale records of single members linger at the old one (on a synthetic place with perfect
   person links this placed 98.8% of reachable household pairs together, against 97.4% with
   records first). The cost: a young adult who left home but still has a stale record at
   the parents' address stays with them until dated records say otherwise.

``build`` returns the SQL for ``household_members`` (household_id, person_id, address_key,
uprn, postcode, date_from, date_to, n_records, is_current) and ``households`` (one row per
household with its address and counts), for the link stage's single atomic publish::

    tables = build(engine, person_links="_new_person_links")
    store.publish({**other_tables, **tables})

``quality_sql`` measures the result against a synthetic place's truth.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from totalplace.engine import SqlStep

if TYPE_CHECKING:
    from totalplace.engine import Engine

ID_PREFIX = "H"
ID_DIGITS = 7
# Common street-type words written both ways in extracts; folded to one spelling.
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("ROAD", "RD"),
    ("STREET", "ST"),
    ("AVENUE", "AVE"),
    ("LANE", "LN"),
    ("DRIVE", "DR"),
    ("CLOSE", "CL"),
    ("COURT", "CT"),
    ("CRESCENT", "CRES"),
    ("PLACE", "PL"),
    ("GARDENS", "GDNS"),
    ("TERRACE", "TER"),
    ("SQUARE", "SQ"),
    ("APARTMENT", "FLAT"),
)
_NEVER, _FOREVER = "DATE '0001-01-01'", "DATE '9999-12-31'"

KEYED = "_tp_hh_keyed"
UPRN_OF_ADDRESS = "_tp_hh_uprn_of_address"
RESIDENCES = "_tp_hh_residences"
ISLANDS = "_tp_hh_islands"
MEMBERS = "_tp_hh_members"


# --- SQL (pure functions) -----------------------------------------------------------------
def normalised_address_sql(col: str, towns: tuple[str, ...] = ()) -> str:
    """SQL for an address in one spelling: capitals, no punctuation, single spaces,
    street-type words abbreviated, and town and county names (``towns``) removed
    (``1 High Street, Anytown.`` and ``1 high st`` -> ``1 HIGH ST``)."""
    x = f"regexp_replace(upper({col}), '[^A-Z0-9]+', ' ', 'g')"
    for word, short in ABBREVIATIONS:
        x = f"regexp_replace({x}, '\\b{word}\\b', '{short}', 'g')"
    if towns:
        alternatives = "|".join(sorted(towns, key=lambda t: (-len(t), t)))
        x = f"regexp_replace({x}, '\\b({alternatives})\\b', ' ', 'g')"
    return f"nullif(trim(regexp_replace({x}, ' +', ' ', 'g')), '')"


def normalised_postcode_sql(col: str) -> str:
    """SQL for a postcode with capitals and no spaces (``ab1 2cd`` -> ``AB12CD``)."""
    return f"nullif(regexp_replace(upper({col}), '[^A-Z0-9]', '', 'g'), '')"


def town_candidates_sql(source_people: str) -> str:
    """The last and second-last comma-separated parts of the addresses, with how many
    distinct addresses end that way (towns and counties are the frequent ones)."""
    last = "upper(trim(regexp_extract(address, ',([^,]*)$', 1)))"
    second = "upper(trim(regexp_extract(address, ',([^,]*),[^,]*$', 1)))"
    return f"""
        WITH d AS (SELECT DISTINCT address FROM "{source_people}"
                   WHERE address IS NOT NULL AND address LIKE '%,%')
        SELECT part, count(*) AS n, (SELECT count(*) FROM d) AS total FROM (
            SELECT {last} AS part FROM d UNION ALL SELECT {second} AS part FROM d
        ) p WHERE part IS NOT NULL AND part <> '' GROUP BY part
    """


# A trailing address part is a town or county when it has no digits and ends at least this
# share of the addresses that have commas (and at least TOWN_MIN_ADDRESSES of them).
TOWN_MIN_SHARE = 0.01
TOWN_MIN_ADDRESSES = 5


def towns_from(rows: list[dict]) -> tuple[str, ...]:
    """Town and county names from ``town_candidates_sql`` rows, cleaned for a regex."""
    out = set()
    for r in rows:
        name = " ".join(re.sub(r"[^A-Z ]+", " ", str(r["part"]).upper()).split())
        if (
            name
            and not re.search(r"\d", str(r["part"]))
            and len(name) >= 3
            and r["n"] >= max(TOWN_MIN_ADDRESSES, TOWN_MIN_SHARE * r["total"])
        ):
            out.add(name)
    return tuple(sorted(out))


def keyed_sql(source_people: str, person_links: str, towns: tuple[str, ...] = ()) -> str:
    """Each linked source record with its person_id and normalised address parts.

    Addresses are normalised once per distinct spelling (far fewer than records), then
    joined back: the regular expressions are the costly part.
    """
    return f"""
        WITH spellings AS (
            SELECT address, {normalised_address_sql("address", towns)} AS addr_norm
            FROM (SELECT DISTINCT address FROM "{source_people}" WHERE address IS NOT NULL) d
        )
        SELECT l.person_id, s.agency, s.source_id,
               nullif(regexp_replace(s.uprn, '[^0-9]', '', 'g'), '') AS uprn,
               n.addr_norm,
               {normalised_postcode_sql("s.postcode")} AS pc_norm,
               s.address, s.postcode, s.valid_from, s.valid_to
        FROM "{source_people}" s
        JOIN "{person_links}" l ON l.agency = s.agency AND l.source_id = s.source_id
        LEFT JOIN spellings n ON n.address = s.address
        WHERE l.person_id IS NOT NULL
    """


def uprn_of_address_sql(keyed: str) -> str:
    """For each normalised address+postcode, the UPRN its records most often carry."""
    return f"""
        SELECT addr_norm, pc_norm, uprn FROM (
            SELECT addr_norm, pc_norm, uprn,
                   row_number() OVER (PARTITION BY addr_norm, pc_norm
                                      ORDER BY count(*) DESC, uprn) AS rk
            FROM "{keyed}"
            WHERE uprn IS NOT NULL AND addr_norm IS NOT NULL AND pc_norm IS NOT NULL
            GROUP BY addr_norm, pc_norm, uprn
        ) ranked WHERE rk = 1
    """


def residences_sql(keyed: str, uprn_of_address: str) -> str:
    """One row per (person, address key) with the period the person's records there cover."""
    return f"""
        WITH k AS (
            SELECT r.*,
                   coalesce(r.uprn, u.uprn) AS any_uprn,
                   CASE WHEN coalesce(r.uprn, u.uprn) IS NOT NULL
                            THEN 'UPRN:' || coalesce(r.uprn, u.uprn)
                        WHEN r.addr_norm IS NOT NULL AND r.pc_norm IS NOT NULL
                            THEN 'ADDR:' || r.addr_norm || '|' || r.pc_norm
                   END AS address_key
            FROM "{keyed}" r
            LEFT JOIN "{uprn_of_address}" u ON u.addr_norm = r.addr_norm AND u.pc_norm = r.pc_norm
        )
        SELECT person_id, address_key, max(any_uprn) AS uprn, min(postcode) AS postcode,
               min(address) AS address, count(*) AS n_records,
               CASE WHEN count(valid_from) = count(*) THEN min(valid_from) END AS date_from,
               CASE WHEN count(valid_to) = count(*) THEN max(valid_to) END AS date_to
        FROM k WHERE address_key IS NOT NULL
        GROUP BY person_id, address_key
    """


def islands_sql(residences: str) -> str:
    """Number the groups of overlapping residences at each address (gaps and islands)."""
    f, t = f"coalesce(date_from, {_NEVER})", f"coalesce(date_to, {_FOREVER})"
    return f"""
        WITH ordered AS (
            SELECT *, {f} AS f_, {t} AS t_,
                   max({t}) OVER (PARTITION BY address_key ORDER BY {f}, person_id
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
            FROM "{residences}"
        )
        SELECT person_id, address_key, uprn, postcode, address, n_records, date_from, date_to,
               sum(CASE WHEN f_ > prev_end THEN 1 ELSE 0 END)
                   OVER (PARTITION BY address_key ORDER BY f_, person_id
                         ROWS UNBOUNDED PRECEDING) AS island
        FROM ordered
    """


def members_sql(islands: str) -> str:
    """``household_members``: household ids by address order, and each person's current one."""
    seq = "CAST(row_number() OVER (ORDER BY address_key, island) AS VARCHAR)"
    hid = (
        f"'{ID_PREFIX}' || CASE WHEN length({seq}) >= {ID_DIGITS} THEN {seq} "
        f"ELSE lpad({seq}, {ID_DIGITS}, '0') END"
    )
    # Numbering the distinct households, not every member row, keeps the global sort small.
    return f"""
        WITH ids AS (
            SELECT address_key, island, n_persons, {hid} AS household_id
            FROM (SELECT address_key, island, count(*) AS n_persons
                  FROM "{islands}" GROUP BY address_key, island) h
        )
        SELECT ids.household_id, i.person_id, i.address_key, i.uprn, i.postcode, i.address,
               i.date_from, i.date_to, i.n_records,
               row_number() OVER (
                   PARTITION BY i.person_id
                   ORDER BY CASE WHEN i.date_to IS NULL THEN 0 ELSE 1 END, i.date_to DESC,
                            ids.n_persons DESC, i.n_records DESC, i.date_from DESC,
                            i.address_key
               ) = 1 AS is_current
        FROM "{islands}" i
        JOIN ids ON ids.address_key = i.address_key AND ids.island = i.island
    """


def households_sql(members: str) -> str:
    """``households``: one row per household with its address, period and counts."""
    return f"""
        SELECT household_id, min(address_key) AS address_key, max(uprn) AS uprn,
               min(postcode) AS postcode, min(address) AS address,
               CASE WHEN count(date_from) = count(*) THEN min(date_from) END AS date_from,
               CASE WHEN count(date_to) = count(*) THEN max(date_to) END AS date_to,
               count(DISTINCT person_id) AS n_persons,
               count(DISTINCT CASE WHEN is_current THEN person_id END) AS n_current_persons,
               sum(n_records) AS n_records
        FROM "{members}"
        GROUP BY household_id
    """


def steps(source_people: str, person_links: str, towns: tuple[str, ...] = ()) -> list[SqlStep]:
    """The steps up to and including the members table (as ``MEMBERS``)."""
    return [
        SqlStep(keyed_sql(source_people, person_links, towns), KEYED),
        SqlStep(uprn_of_address_sql(KEYED), UPRN_OF_ADDRESS),
        SqlStep(residences_sql(KEYED, UPRN_OF_ADDRESS), RESIDENCES),
        SqlStep(islands_sql(RESIDENCES), ISLANDS),
        SqlStep(members_sql(ISLANDS), MEMBERS),
    ]


def build(
    engine: Engine, person_links: str, source_people: str = "source_people"
) -> dict[str, list[SqlStep]]:
    """The household tables to publish, as SQL steps (nothing runs until published).

    Args:
        engine: the place's engine (unused beyond checking the inputs exist: the SQL is the
            same for DuckDB and Spark).
        person_links: table or view with agency, source_id, person_id (this run's links).
        source_people: the canonical source_people table.

    Returns:
        ``{"household_members": steps, "households": steps}`` for ``Store.publish``; keep
        them in this order in the dict you publish (households reads a temp table the
        members' steps leave).

    Example:
        >>> from totalplace.engine import open_engine
        >>> import pyarrow as pa
        >>> eng = open_engine("duckdb")
        >>> eng.register("sp", pa.table({"agency": ["a", "b"], "source_id": ["1", "2"],
        ...     "uprn": ["10", None], "address": ["1 High Street", "1 high st."],
        ...     "postcode": ["AB1 2CD", "ab12cd"],
        ...     "valid_from": pa.array([None, None], pa.date32()),
        ...     "valid_to": pa.array([None, None], pa.date32())}))
        >>> eng.register("pl", pa.table({"agency": ["a", "b"], "source_id": ["1", "2"],
        ...                              "person_id": ["P1", "P2"]}))
        >>> eng.publish(build(eng, "pl", "sp"))
        {'household_members': 2, 'households': 1}
    """
    for name in (person_links, source_people):
        if not _exists(engine, name):
            raise ValueError(f"households.build: no table or view {name!r} in the store")
    # household_members is built first (as the temp table MEMBERS, then copied) and
    # households reads that temp table: Store.publish builds tables in dict order, in one
    # session, so the work is done once.
    # Town and county names are found in the data (frequent last parts of addresses), so
    # "35 West Close, Anytown" and "35 West Close" are one dwelling.
    towns = towns_from(engine.query(town_candidates_sql(source_people)).to_pylist())
    return {
        "household_members": [
            *steps(source_people, person_links, towns),
            SqlStep(f'SELECT * FROM "{MEMBERS}"'),
        ],
        "households": [SqlStep(households_sql(MEMBERS))],
    }


def _exists(engine: Engine, name: str) -> bool:
    # Registered views are not listed by tables() on every engine; a zero-row probe is.
    try:
        engine.query(f'SELECT * FROM "{name}" LIMIT 0')
    except Exception:
        return False
    return True


# --- evaluation against truth ------------------------------------------------------------
def quality_sql(members: str, person_links: str, truth: str) -> str:
    """Pairwise purity and completeness of current households against true households.

    ``truth`` has agency, source_id, household_id (e.g. a synthetic place's
    ``truth/source_records.parquet``). Each linked person takes the true household most of
    its records belong to. Purity: of pairs of persons placed in the same current household,
    the share truly in the same household. Completeness: of pairs of persons truly in the
    same household, the share placed in the same current household. Stale addresses limit
    completeness (a mover seen only at the old address cannot join the family at the new
    one), so ``reachable_completeness`` counts only true pairs that share some household
    in any period: what the grouping itself can achieve.
    """
    return f"""
        WITH th AS (
            SELECT person_id, household_id FROM (
                SELECT l.person_id, t.household_id,
                       row_number() OVER (PARTITION BY l.person_id
                                          ORDER BY count(*) DESC, t.household_id) AS rk
                FROM "{person_links}" l
                JOIN "{truth}" t ON t.agency = l.agency AND t.source_id = l.source_id
                GROUP BY l.person_id, t.household_id
            ) x WHERE rk = 1
        ),
        cur AS (
            SELECT m.person_id, m.household_id AS predicted, th.household_id AS actual
            FROM "{members}" m JOIN th ON th.person_id = m.person_id
            WHERE m.is_current
        ),
        -- Two equi-joins (on each grouping) rather than one join on an OR: an OR join
        -- cannot be hashed and grows with the square of the persons.
        same_predicted AS (
            SELECT count(*) AS predicted_pairs,
                   count(*) FILTER (WHERE a.actual = b.actual) AS both_pairs
            FROM cur a JOIN cur b ON a.predicted = b.predicted AND a.person_id < b.person_id
        ),
        same_actual AS (
            SELECT count(*) AS actual_pairs
            FROM cur a JOIN cur b ON a.actual = b.actual AND a.person_id < b.person_id
        ),
        reachable AS (
            SELECT count(DISTINCT a.person_id || '~' || b.person_id) AS reachable_pairs,
                   count(DISTINCT CASE WHEN ca.predicted = cb.predicted
                                       THEN a.person_id || '~' || b.person_id END)
                       AS reachable_found
            FROM "{members}" a
            JOIN "{members}" b ON a.household_id = b.household_id AND a.person_id < b.person_id
            JOIN cur ca ON ca.person_id = a.person_id
            JOIN cur cb ON cb.person_id = b.person_id
            WHERE ca.actual = cb.actual
        )
        SELECT predicted_pairs, actual_pairs, both_pairs, reachable_pairs,
               CAST(both_pairs AS DOUBLE) / nullif(predicted_pairs, 0) AS purity,
               CAST(both_pairs AS DOUBLE) / nullif(actual_pairs, 0) AS completeness,
               CAST(reachable_found AS DOUBLE) / nullif(reachable_pairs, 0)
                   AS reachable_completeness,
               (SELECT count(DISTINCT predicted) FROM cur) AS predicted_households,
               (SELECT count(DISTINCT actual) FROM cur) AS actual_households
        FROM same_predicted, same_actual, reachable
    """
