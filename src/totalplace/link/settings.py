"""Splink settings for UK person records: comparisons, blocking rules and training rules.

Everything here is a pure function of which columns the data has, so the place stage and
``link-files`` train and score with exactly the same model::

    settings = splink_settings({"given_name", "family_name", "dob_str", "postcode"})
    rules = blocking_rules({"given_name", "family_name", "dob_str", "postcode"})

Comparisons (each only when its columns have data):

- ``nhs_number``: exact (only numbers passing modulus 11 reach Splink).
- ``given_name``: exact (term-frequency adjusted), nickname (shared formal name),
  Jaro-Winkler >= 0.92, an initial that fits, Jaro-Winkler >= 0.80, swapped with family name, else.
- ``family_name``: exact (term-frequency adjusted), Jaro-Winkler >= 0.92, shares a part
  of a double-barrelled name, Jaro-Winkler >= 0.80,
  swapped with given name, possible surname change (given name and dob agree exactly
  but surname differs; its u is fixed, see ``SURNAME_CHANGE_U``), else.
- ``dob``: exact, day and month swapped, one-character edit, same year, else.
- ``address``: UPRN exact, address text exact, postcode full / sector / district, else.
- ``sex``, ``email`` (Splink's email comparison), ``phone``: exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator

# The surname-change level is defined by given name and dob agreeing, which those two
# comparisons already count. Estimating its u by random sampling would make that evidence
# count twice (u would be tiny), so u is fixed at roughly P(surnames differ | non-match):
# the level then only says "a surname difference is less damning here than usual".
SURNAME_CHANGE_U = 0.99
# Given and family name swapped between the two records (one event: the given-name
# comparison counts it; the family-name level weighs nothing, so it is not counted twice).
NAMES_SWAPPED_SQL = "given_name_l = family_name_r AND family_name_l = given_name_r"
HOUSEHOLD_LABEL = "Same family name at the same address (a household's shared name)"
HOUSEHOLD_DOB_LABEL = "Same dob, family name and address (twins share all three)"
HOUSEHOLD_LABELS = (HOUSEHOLD_LABEL, HOUSEHOLD_DOB_LABEL)


@dataclass(frozen=True)
class NamedRule:
    """A blocking rule with a short name for reports (``dob+given_name``)."""

    name: str
    rule: BlockingRuleCreator
    needs: tuple[str, ...]


def _sql_rule(name: str, sql: str, needs: tuple[str, ...]) -> NamedRule:
    from splink.internals.blocking_rule_creator_utils import to_blocking_rule_creator

    return NamedRule(name, to_blocking_rule_creator(sql), needs)


def _rule(*cols: str) -> NamedRule:
    return NamedRule("+".join(cols), block_on(*cols), cols)


# Chosen for recall: each catches true pairs the others miss (the Link run detail
# `blocking` reports the pairs each generates and, against truth, the recall of their
# union). Rules that would make more pairs than the budget (``LinkageOptions
# .rule_pair_budget`` per record, estimated by Splink before predicting) are left out, so
# the broad rules at the end only run on small data sets.
BLOCKING_RULES: tuple[NamedRule, ...] = (
    _rule("nhs_number"),
    _rule("dob_str", "given_name"),  # surname change, moved house
    _rule("dob_str", "family_name"),  # given-name typo or nickname
    _rule("dob_str", "postcode"),  # both names mangled
    _rule("given_name", "family_name", "dob_year"),  # day/month errors
    _rule("given_name", "family_name", "postcode_district"),  # any dob error, local
    _rule("family_name", "postcode"),  # dob error and given-name variant together
    _rule("given_name", "postcode"),  # surname change plus dob error
    _rule("family_name", "address"),
    _rule("given_name", "address"),
    _sql_rule(
        "given_name+family_name swapped",
        "l.given_name = r.family_name AND l.family_name = r.given_name",
        ("given_name", "family_name"),
    ),
    _rule("email"),
    _rule("phone"),
    # Broad: kept only while within budget.
    _rule("given_name", "family_name"),
    _rule("dob_str"),
    _rule("family_name", "dob_year"),
    _rule("given_name", "dob_year"),
)


# Last: every pair of records, kept only when all pairs fit the pair budget (small lists,
# where blocking would only lose pairs whose fields are all mangled).
EVERY_PAIR = _sql_rule("every pair", "1 = 1", ())


# EM rules: each leaves the comparisons it does not block on to be estimated. Members of
# one household share surname and address, and often a dob (twins) or full name (parent
# and child), so a name block is full of non-matching relatives, and EM then learns that
# e.g. a different dob is common among matches. Where valid NHS numbers exist, their block
# (nearly all true matches) trains dob and names instead; the dob block trains the rest.
TRAINING_RULES_WITH_NHS: tuple[NamedRule, ...] = (
    # Same dob at different postcodes: movers and strangers, but no twins living together.
    _sql_rule(
        "dob_str, other postcode",
        "l.dob_str = r.dob_str AND l.postcode <> r.postcode",
        ("dob_str", "postcode"),
    ),
    _rule("nhs_number"),  # trains names, dob, address, sex
)
TRAINING_RULES: tuple[NamedRule, ...] = (
    _rule("given_name", "family_name"),  # trains dob, address, sex, email
    _rule("dob_str"),  # trains names, address, sex, email
)

# Near-certain rules used to estimate the prior P(two random records match).
PRIOR_RULES: tuple[NamedRule, ...] = (
    _rule("given_name", "family_name", "dob_str"),
    _rule("nhs_number", "dob_str"),
)

# Deterministic pre-linking: these agree exactly -> the same person, probability 1.
DETERMINISTIC_RULE = _rule("nhs_number", "dob_str")


def _usable(rule: NamedRule, present: set[str]) -> bool:
    return all(c in present for c in rule.needs)


def blocking_rules(present: set[str]) -> list[NamedRule]:
    """The blocking rules whose columns all have data, then one rule per extra
    ``link-files`` column (an id or a birth place a user maps may catch pairs whose names
    and dob are all mangled; the pair budget keeps out any that is not selective)."""
    extras = [_rule(c) for c in sorted(present) if c.startswith("extra_")]
    return [r for r in BLOCKING_RULES if _usable(r, present)] + extras + [EVERY_PAIR]


def training_rules(present: set[str]) -> list[NamedRule]:
    rules = TRAINING_RULES_WITH_NHS if "nhs_number" in present else TRAINING_RULES
    return [r for r in rules if _usable(r, present)]


def fallback_training_rules(present: set[str]) -> list[NamedRule]:
    """EM rules tried when the preferred ones find too few pairs (small or clean data)."""
    return [r for r in TRAINING_RULES if _usable(r, present)]


def prior_rules(present: set[str]) -> list[NamedRule]:
    return [r for r in PRIOR_RULES if _usable(r, present)]


def given_name_comparison(present: set[str]) -> cl.CustomComparison:
    levels: list[Any] = [
        cll.NullLevel("given_name"),
        cll.ExactMatchLevel("given_name").configure(
            tf_adjustment_column="given_name", m_probability=0.88
        ),
        cll.ArrayIntersectLevel("given_name_groups", 1).configure(
            label_for_charts="Nickname or variant of the same name", m_probability=0.03
        ),
        cll.JaroWinklerLevel("given_name", 0.92).configure(m_probability=0.03),
    ]
    if "forenames" in present:
        levels.append(
            cll.CustomLevel(
                "list_contains(forenames_r, given_name_l) "
                "OR list_contains(forenames_l, given_name_r)",
                label_for_charts="Given name is among the other's forenames (middle name)",
                base_dialect_str="duckdb",
            ).configure(m_probability=0.01)
        )
    levels.append(
        cll.CustomLevel(
            "(length(given_name_l) = 1 OR length(given_name_r) = 1) "
            "AND substr(given_name_l, 1, 1) = substr(given_name_r, 1, 1)",
            label_for_charts="An initial that fits the other's name",
        ).configure(m_probability=0.01)
    )
    levels.append(cll.JaroWinklerLevel("given_name", 0.80).configure(m_probability=0.02))
    if "family_name" in present:
        levels.append(
            cll.CustomLevel(
                NAMES_SWAPPED_SQL, label_for_charts="Given and family names swapped"
            ).configure(m_probability=0.005)
        )
    levels.append(cll.ElseLevel().configure(m_probability=0.02))
    return cl.CustomComparison(
        levels, output_column_name="given_name", comparison_description="Given name"
    )


def household_level_sql(present: set[str]) -> str | None:
    """SQL for "same family name at the same address", or None without an address."""
    same = [f"{c}_l = {c}_r" for c in ("address", "uprn") if c in present]
    if not same or "family_name" not in present:
        return None
    return f"family_name_l = family_name_r AND ({' OR '.join(same)})"


def family_name_comparison(
    present: set[str], household_u: float | None = None
) -> cl.CustomComparison:
    levels: list[Any] = [cll.NullLevel("family_name")]
    household = household_level_sql(present)
    if household_u is not None and household is not None:
        # Members of one household share their surname: at the same address an equal
        # surname is weak evidence. Its u is the share of same-address pairs of different
        # given names that share a surname (``model.household_surname_u``), not the chance
        # that two random records do; its m is the exact level's (see ``model``).
        levels.append(
            cll.CustomLevel(household, label_for_charts=HOUSEHOLD_LABEL).configure(
                u_probability=household_u, fix_u_probability=True, m_probability=0.85
            )
        )
    levels += [
        cll.ExactMatchLevel("family_name").configure(
            tf_adjustment_column="family_name", m_probability=0.85
        ),
        cll.JaroWinklerLevel("family_name", 0.92).configure(m_probability=0.04),
    ]
    if "family_name_parts" in present:
        levels.append(
            cll.ArrayIntersectLevel("family_name_parts", 1).configure(
                label_for_charts="Shares part of a double-barrelled name", m_probability=0.02
            )
        )
    levels.append(cll.JaroWinklerLevel("family_name", 0.80).configure(m_probability=0.02))
    if "given_name" in present:
        # The same swap, already counted by the given name: no evidence here (m = u).
        levels.append(
            cll.CustomLevel(
                NAMES_SWAPPED_SQL, label_for_charts="Names swapped (counted in given name)"
            ).configure(
                m_probability=1.0, u_probability=1.0, fix_m_probability=True, fix_u_probability=True
            )
        )
    if "given_name" in present and "dob_str" in present:
        levels.append(
            cll.CustomLevel(
                # `dob`, not `dob_str`: EM skips comparisons that use a column of its blocking
                # rule, and the dob_str block is where family names are trained.
                "given_name_l = given_name_r AND dob_l = dob_r",
                label_for_charts="Different surname, same given name and dob (surname change?)",
            ).configure(u_probability=SURNAME_CHANGE_U, fix_u_probability=True, m_probability=0.03)
        )
    levels.append(cll.ElseLevel().configure(m_probability=0.03))
    return cl.CustomComparison(
        levels, output_column_name="family_name", comparison_description="Family name"
    )


def dob_comparison(
    present: set[str] | None = None, household_u: float | None = None
) -> cl.CustomComparison:
    placeholder = (
        "substr(dob_str_l, 1, 4) = substr(dob_str_r, 1, 4) AND "
        "(substr(dob_str_l, 6, 5) = '01-01' OR substr(dob_str_r, 6, 5) = '01-01')"
    )
    swapped = (
        "substr(dob_str_l, 1, 4) = substr(dob_str_r, 1, 4) AND "
        "substr(dob_str_l, 6, 2) = substr(dob_str_r, 9, 2) AND "
        "substr(dob_str_l, 9, 2) = substr(dob_str_r, 6, 2)"
    )
    household = []
    level_sql = household_level_sql(present or set())
    if household_u is not None and level_sql is not None:
        # Twins: one household, one surname, one dob. Its u is the share of such pairs
        # (different given names) sharing a dob (``model.household_dob_u``).
        household.append(
            cll.CustomLevel(
                f"dob_str_l = dob_str_r AND {level_sql}", label_for_charts=HOUSEHOLD_DOB_LABEL
            ).configure(u_probability=household_u, fix_u_probability=True, m_probability=0.9)
        )
    return cl.CustomComparison(
        [
            cll.NullLevel("dob_str"),
            *household,
            cll.ExactMatchLevel("dob_str").configure(
                label_for_charts="Exact match on dob", m_probability=0.9
            ),
            cll.CustomLevel(swapped, label_for_charts="Day and month swapped").configure(
                m_probability=0.01
            ),
            # Only the year was known: recorded as 1 January of that year.
            cll.CustomLevel(placeholder, label_for_charts="Same year, one is 1 January").configure(
                m_probability=0.01
            ),
            cll.LevenshteinLevel("dob_str", 1).configure(
                label_for_charts="One character differs", m_probability=0.05
            ),
            # Starting m values: when training sees no match at these levels (dob errors are
            # rare) Splink keeps them, rather than a generic default that is far too high.
            cll.ExactMatchLevel("dob_year").configure(
                label_for_charts="Same year only", m_probability=0.01
            ),
            cll.ElseLevel().configure(m_probability=0.002),
        ],
        output_column_name="dob",
        comparison_description="Date of birth",
    )


def address_comparison(present: set[str]) -> cl.CustomComparison:
    cols = [c for c in ("uprn", "address", "postcode") if c in present]
    null_sql = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in cols)
    levels: list[Any] = [
        cll.CustomLevel(null_sql, "Address unknown on one side").configure(is_null_level=True)
    ]
    if "uprn" in present:
        levels.append(
            cll.ExactMatchLevel("uprn").configure(label_for_charts="Same UPRN", m_probability=0.5)
        )
    if "address" in present:
        levels.append(
            cll.ExactMatchLevel("address").configure(
                label_for_charts="Same address", m_probability=0.3
            )
        )
    if "postcode" in present:
        levels += [
            cll.ExactMatchLevel("postcode").configure(
                label_for_charts="Same postcode", m_probability=0.5
            ),
            cll.ExactMatchLevel("postcode_sector").configure(
                label_for_charts="Same sector", m_probability=0.05
            ),
            cll.ExactMatchLevel("postcode_district").configure(
                label_for_charts="Same district", m_probability=0.05
            ),
        ]
    levels.append(cll.ElseLevel().configure(m_probability=0.2))
    return cl.CustomComparison(
        levels,
        output_column_name="address",
        comparison_description="Address: UPRN, address, postcode",
    )


def exact_comparison(col: str, m_exact: float, description: str) -> cl.CustomComparison:
    """Null / exact / else, with prior m values (used while EM has not trained them)."""
    return cl.CustomComparison(
        [
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(m_probability=m_exact),
            cll.ElseLevel().configure(m_probability=round(1 - m_exact, 6)),
        ],
        output_column_name=col,
        comparison_description=description,
    )


def comparisons(
    present: set[str], household_u: float | None = None, household_dob_u: float | None = None
) -> list[cl.ComparisonCreator]:
    """Every comparison the data supports, in a fixed order (``household_u``: see
    ``family_name_comparison``)."""
    out: list[Any] = []
    if "nhs_number" in present:
        out.append(exact_comparison("nhs_number", 0.97, "NHS number"))
    if "given_name" in present:
        out.append(given_name_comparison(present))
    if "family_name" in present:
        out.append(family_name_comparison(present, household_u))
    if "dob_str" in present:
        out.append(dob_comparison(present, household_dob_u))
    if present & {"uprn", "address", "postcode"}:
        out.append(address_comparison(present))
    if "sex" in present:
        out.append(exact_comparison("sex", 0.97, "Sex"))
    if "email" in present:
        out.append(cl.EmailComparison("email"))
    if "phone" in present:
        out.append(exact_comparison("phone", 0.7, "Phone"))
    out += [text_comparison(c) for c in sorted(present) if c.startswith("extra_")]
    return out


def text_comparison(col: str) -> cl.CustomComparison:
    """Any further free-text column (``link-files --map birth_place=...``): exact
    (term-frequency adjusted), Jaro-Winkler >= 0.9, else."""
    return cl.CustomComparison(
        [
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col, m_probability=0.8),
            cll.JaroWinklerLevel(col, 0.9).configure(m_probability=0.1),
            cll.ElseLevel().configure(m_probability=0.1),
        ],
        output_column_name=col,
        comparison_description=col.removeprefix("extra_").replace("_", " ").capitalize(),
    )


def splink_settings(
    present: set[str],
    rules: list[NamedRule] | None = None,
    extra_columns: tuple[str, ...] = ("agency", "source_id"),
    link_type: str = "dedupe_only",
    household_u: float | None = None,
    household_dob_u: float | None = None,
) -> SettingsCreator:
    """The SettingsCreator for data whose non-empty columns are ``present``.

    Args:
        present: columns of the prepared frame that have data (``prepare.present_columns``).
        rules: blocking rules for prediction (default: every usable one).
        extra_columns: carried through to predictions and clusters untouched.
        link_type: ``dedupe_only`` (one frame holding every agency's records).
        household_u: u of the "same family name at the same address" level, or None to
            leave the level out (``model.household_surname_u``); ``household_dob_u`` the
            same for the dob level of twins.
    """
    comps = comparisons(present, household_u, household_dob_u)
    if len(comps) < 2:
        raise ValueError(
            "linkage needs at least two of: nhs_number, given_name, family_name, dob, "
            f"postcode/address/uprn, sex, email, phone; found data only in {sorted(present)}"
        )
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=comps,
        blocking_rules_to_generate_predictions=[
            r.rule for r in (blocking_rules(present) if rules is None else rules)
        ],
        additional_columns_to_retain=[c for c in extra_columns if c in present],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
        max_iterations=20,
        em_convergence=0.001,
    )
