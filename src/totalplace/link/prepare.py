"""``source_people`` -> the frame Splink links: one row per record, cleaned and derived.

The SQL is built by pure functions (DuckDB dialect) and run on the link stage's own
working DuckDB, so the store is never filled with Splink's scratch tables::

    import duckdb
    con = duckdb.connect()
    register_nicknames(con)
    con.execute(prepare_sql("source_people")).to_arrow_table()

Derived columns (all lower case, letters only, for names):

- ``unique_id``: ``agency || '|' || source_id`` (unique across agencies).
- ``forenames``: every word of the given and middle names (someone known by a middle
  name matches on it).
- Titles (``Mr``, ``Dr``, ...) are removed from given names and generational suffixes
  (``Jr``, ``Snr``, ``III``) from family names.
- ``given_name``: the first word of the given name; ``given_name_groups``: the name plus
  every formal name it is a nickname of (``bob`` -> ``[bob, robert]``), so a nickname and
  its formal name share a group.
- ``family_name``: letters only (``O'Brien`` -> ``obrien``); ``family_name_parts``: each
  part of a double-barrelled name (``Carter-Lowe`` -> ``[carter, lowe]``).
- ``dob_str`` (``YYYY-MM-DD``) and ``dob_year`` for the dob levels.
- ``postcode`` (upper case, one space; a numeric postcode of another country as digits),
  ``postcode_sector`` (``AB1 2``), ``postcode_district`` (``AB1``) for UK postcodes.
- ``nhs_number``: only when it passes the modulus-11 check; otherwise NULL so an invalid
  number is never evidence.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa

NICKNAMES_TABLE = "_tp_nicknames"

# Every column the Splink frame can carry, in order.
FRAME_COLUMNS = (
    "unique_id",
    "agency",
    "source_id",
    "nhs_number",
    "given_name",
    "given_name_groups",
    "forenames",
    "family_name",
    "family_name_parts",
    "dob",
    "dob_str",
    "dob_year",
    "sex",
    "postcode",
    "postcode_sector",
    "postcode_district",
    "uprn",
    "address",
    "email",
    "phone",
)


def _nickname_files() -> list[Path]:
    """Our own list, plus the synthetic generator's variant list when it ships one."""
    files = [Path(str(resources.files("totalplace.link") / "nicknames.csv"))]
    names_dir = Path(str(resources.files("totalplace"))) / "data" / "names"
    files += sorted(p for p in names_dir.glob("*nick*.csv")) if names_dir.is_dir() else []
    return files


def _clean(name: str) -> str:
    """The same cleaning as ``clean_name_sql``, in Python, for the lookup lists."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", plain.lower())


@lru_cache(maxsize=1)
def nickname_pairs() -> tuple[tuple[str, str], ...]:
    """(nickname, formal name) pairs, cleaned, from every nickname list found.

    A list is a CSV whose header is ``name,canonical`` (nickname first, ours) or
    ``name,variant`` (formal name first, the synthetic generator's).
    """
    pairs: set[tuple[str, str]] = set()
    for path in _nickname_files():
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader, [])]
            if len(header) < 2:
                continue
            formal_first = header[1] == "variant"
            for row in reader:
                if len(row) < 2:
                    continue
                a, b = _clean(row[0]), _clean(row[1])
                if formal_first:
                    a, b = b, a
                if a and b and a != b:
                    pairs.add((a, b))
    return tuple(sorted(pairs))


def register_nicknames(con) -> None:
    """Make the nickname list queryable as ``_tp_nicknames(name, canonical)`` on ``con``."""
    pairs = nickname_pairs()
    # Two list parameters unnested, not a registered Arrow table: DuckDB imports pandas
    # (about a second) the first time anything is registered, which link-files need not pay.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {NICKNAMES_TABLE} AS "
        "SELECT unnest($names) AS name, unnest($canonicals) AS canonical",
        {"names": [p[0] for p in pairs], "canonicals": [p[1] for p in pairs]},
    )


def clean_name_sql(col: str) -> str:
    """Lower case, accents stripped, letters only."""
    return f"nullif(regexp_replace(lower(strip_accents(trim({col}))), '[^a-z]', '', 'g'), '')"


def words_sql(col: str) -> str:
    """The cleaned words of ``col`` as a list (names split on spaces and hyphens)."""
    return (
        f"list_filter(list_transform(regexp_split_to_array(trim({col}), '[- ]+'), "
        f"lambda w: {clean_name_sql('w')}), lambda w: w IS NOT NULL)"
    )


def first_word_sql(col: str) -> str:
    return clean_name_sql(f"split_part(trim(regexp_replace({col}, '[-\\s]+', ' ', 'g')), ' ', 1)")


def postcode_sql(col: str) -> str:
    """A UK postcode in upper case with one space before the inward code (``AB1 2CD``); a
    numeric postcode of another country (``2615``, ``75001``) as its digits; else NULL
    (an incomplete UK postcode is no evidence)."""
    squashed = f"upper(regexp_replace({col}, '[^A-Za-z0-9]', '', 'g'))"
    return (
        f"CASE WHEN regexp_full_match({squashed}, '[A-Z]{{1,2}}[0-9][A-Z0-9]?[0-9][A-Z]{{2}}') "
        f"THEN substr({squashed}, 1, length({squashed}) - 3) || ' ' || right({squashed}, 3) "
        f"WHEN regexp_full_match({squashed}, '[0-9]{{3,6}}') THEN {squashed} END"
    )


def nhs_valid_sql(col: str) -> str:
    """True when ``col`` is 10 digits passing the NHS modulus-11 check."""
    digits = [f"CAST(substr({col}, {i}, 1) AS INTEGER)" for i in range(1, 11)]
    weighted = " + ".join(f"{d} * {10 - i}" for i, d in enumerate(digits[:9]))
    check = f"(11 - (({weighted}) % 11))"
    # CASE, not AND: SQL does not promise to short-circuit, and '' will not cast.
    return (
        f"(CASE WHEN regexp_full_match(coalesce({col}, ''), '[0-9]{{10}}') THEN "
        f"(CASE WHEN {check} = 11 THEN 0 ELSE {check} END) = {digits[9]} ELSE false END)"
    )


def extra_column(name: str) -> str:
    """The frame column for an extra mapped field (``birth_place`` -> ``extra_birth_place``)."""
    return f"extra_{name}"


TITLES = (
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "rev",
    "revd",
    "prof",
    "sir",
    "dame",
    "lady",
    "lord",
)
SUFFIXES = ("jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv")


def strip_title_sql(col: str) -> str:
    """``col`` without a leading title (``Mr``, ``Dr.``, ...)."""
    return f"regexp_replace({col}, '^\\s*({'|'.join(TITLES)})\\.?\\s+', '', 'i')"


def strip_suffix_sql(col: str) -> str:
    """``col`` without a trailing generational suffix (``Jr``, ``Snr.``, ``III``, ...)."""
    return f"regexp_replace({col}, '[\\s,]+({'|'.join(SUFFIXES)})\\.?\\s*$', '', 'i')"


def prepare_sql(source: str, columns: list[str] | None = None, extras: tuple[str, ...] = ()) -> str:
    """SELECT turning a ``source_people``-shaped table into the Splink frame.

    Args:
        source: table or view name with ``source_people`` columns (missing optional columns
            may be left out; list the present ones in ``columns``).
        columns: the columns ``source`` has; default: all of ``source_people``'s.
        extras: further free-text columns of ``source`` to compare (``link-files --map
            birth_place=...``); each becomes ``extra_<name>``, lower case, letters and
            digits only, and gets a generic text comparison.
    """
    have = set(columns) if columns is not None else None

    def col(name: str, cast: str = "VARCHAR") -> str:
        if have is not None and name not in have:
            return f"CAST(NULL AS {cast})"
        return f"CAST(s.{name} AS {cast})"

    nhs = col("nhs_number")
    nhs_clean = f"regexp_replace(coalesce({nhs}, ''), '[^0-9]', '', 'g')"
    if have is None or "nhs_number_valid" in have:
        # Trust ingest's flag, but check again: link-files tables have no flag.
        valid = f"coalesce({col('nhs_number_valid', 'BOOLEAN')}, {nhs_valid_sql('s.nhs_clean')})"
    else:
        valid = nhs_valid_sql("s.nhs_clean")
    dob = col("dob", "DATE")
    extra_sql = "".join(
        f",\n    nullif(trim(regexp_replace(lower(strip_accents(CAST(s.{e} AS VARCHAR))), "
        f"'[^a-z0-9]+', ' ', 'g')), '') AS {extra_column(e)}"
        for e in extras
    )
    extra_out = "".join(f", b.{extra_column(e)}" for e in extras)
    return f"""
WITH s0 AS (
  SELECT s.*, {nhs_clean} AS nhs_clean FROM {source} AS s
), base AS (
  SELECT
    {col("agency")} || '|' || {col("source_id")} AS unique_id,
    {col("agency")} AS agency,
    {col("source_id")} AS source_id,
    CASE WHEN {valid} THEN s.nhs_clean END AS nhs_number,
    {first_word_sql(strip_title_sql(col("given_name")))} AS given_name,
    list_concat({words_sql(strip_title_sql(col("given_name")))}, coalesce({words_sql(col("middle_names"))}, []))
      AS forenames,
    {clean_name_sql(strip_suffix_sql(col("family_name")))} AS family_name,
    list_filter(list_transform(
      regexp_split_to_array(trim({strip_suffix_sql(col("family_name"))}), '[- ]+'),
                               lambda x: {clean_name_sql("x")}),
                lambda x: x IS NOT NULL) AS family_name_parts,
    {dob} AS dob,
    CAST(strftime({dob}, '%Y-%m-%d') AS VARCHAR) AS dob_str,
    CAST(year({dob}) AS VARCHAR) AS dob_year,
    CASE upper(trim({col("sex")})) WHEN 'F' THEN 'F' WHEN 'M' THEN 'M' WHEN 'X' THEN 'X' END AS sex,
    {postcode_sql(col("postcode"))} AS postcode,
    nullif(regexp_replace({col("uprn")}, '[^0-9]', '', 'g'), '') AS uprn,
    nullif(trim(regexp_replace(lower({col("address")}), '[^a-z0-9]+', ' ', 'g')), '') AS address,
    nullif(lower(trim({col("email")})), '') AS email,
    nullif(regexp_replace({col("phone")}, '[^0-9]', '', 'g'), '') AS phone{extra_sql}
  FROM s0 AS s
)
SELECT
  b.unique_id, b.agency, b.source_id, b.nhs_number, b.given_name,
  CASE WHEN b.given_name IS NOT NULL THEN list_sort(list_distinct(
    list_concat([b.given_name], coalesce(g.canonicals, [])))) END AS given_name_groups,
  CASE WHEN len(b.forenames) > 0 THEN b.forenames END AS forenames,
  b.family_name,
  CASE WHEN len(b.family_name_parts) > 0 THEN b.family_name_parts END AS family_name_parts,
  b.dob, b.dob_str, b.dob_year, b.sex, b.postcode,
  regexp_extract(b.postcode, '^[A-Z]{{1,2}}[0-9][A-Z0-9]? [0-9]') AS postcode_sector,
  regexp_extract(b.postcode, '^[A-Z]{{1,2}}[0-9][A-Z0-9]?') AS postcode_district,
  b.uprn, b.address, b.email, b.phone{extra_out}
FROM base AS b
LEFT JOIN (
  SELECT name, list(DISTINCT canonical) AS canonicals FROM {NICKNAMES_TABLE} GROUP BY name
) AS g ON g.name = b.given_name
"""


def present_columns(frame: pa.Table) -> set[str]:
    """Frame columns with at least one non-null value (only these get comparisons)."""
    out = set()
    for name in frame.column_names:
        if frame.column(name).null_count < frame.num_rows:
            out.add(name)
    return out
