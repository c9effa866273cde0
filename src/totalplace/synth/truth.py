"""Turn simulated events into the agencies' files and the ground-truth tables."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from totalplace.synth.costs import load_deflator
from totalplace.synth.events import Attr, Batch, Registry
from totalplace.synth.extract import ExtractFile
from totalplace.synth.layouts import ATTRS, LAYOUTS, layout_sql
from totalplace.synth.model import DAY, Grid
from totalplace.synth.spend import SPEND_COLS, SpendLine, pounds, spend_lines

# Event types that are episodes: an open one (no end) runs to the period end.
EPISODES = {
    "home_care",
    "residential_care",
    "lac_placement",
    "temporary_accommodation",
    "rough_sleeping",
    "benefit_claim",
    "treatment",
    "community_order",
    "licence",
    "mh_admission",
}
ANONYMOUS_WEB_SHARE = 0.08  # web forms sent without giving a name the CRM can match


def decimal_pounds(pence: np.ndarray) -> pa.Array:
    """Integer pence as an exact DECIMAL(18,2) Arrow array (no floating point on the way)."""
    p = np.ascontiguousarray(pence, dtype=np.int64)
    words = np.empty(2 * len(p), dtype=np.int64)
    words[0::2] = p
    words[1::2] = np.where(p < 0, -1, 0)  # two's-complement high word of the 128-bit value
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(p), [None, pa.py_buffer(words)])


@dataclass
class EventIds:
    """Map internal event uids to (agency, event_id) as written in the extracts."""

    uid: np.ndarray  # sorted
    event_id: pa.ChunkedArray
    agency: pa.ChunkedArray

    def lookup(self, uid: np.ndarray) -> tuple[pa.Array, pa.Array]:
        pos = np.searchsorted(self.uid, uid)
        pos = np.clip(pos, 0, len(self.uid) - 1)
        if len(uid) and not np.array_equal(self.uid[pos], uid):
            raise AssertionError(
                "event uid without an event id (an event was lost on the way to its file)"
            )
        idx = pa.array(pos)
        return self.agency.take(idx), self.event_id.take(idx)


def _batch_table(b: Batch) -> pa.Table:
    cols: dict[str, Any] = {
        "uid": pa.array(b.uid),
        "person": pa.array(b.person),
        "etype": pa.array(np.full(len(b), b.etype)),
        "st": pa.array(b.start, pa.timestamp("s")),
        "en": pa.array(b.end, pa.timestamp("s"), mask=b.end < 0),
        "cost": pa.array(b.cost),
    }
    for k, v in b.attrs.items():
        if isinstance(v, Attr):
            cols[k] = pa.array(v.labels, pa.string()).take(pa.array(v.codes.astype(np.int32)))
        else:
            cols[k] = pa.array(v)
    return pa.table(cols)


def build_extracts(
    reg: Registry, plan: Any, rng: np.random.Generator
) -> tuple[list[ExtractFile], EventIds]:
    """Every agency's event files (in its own layout) and the uid -> event id map."""
    files: list[ExtractFile] = []
    uids, eids, agencies = [], [], []
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for agency in dict.fromkeys(lay.agency for lay in LAYOUTS):
        batches = [b for b in reg.batches if b.agency == agency and len(b)]
        if not batches:
            continue
        ev = pa.concat_tables([_batch_table(b) for b in batches], promote_options="default")
        person = ev.column("person").to_numpy()
        known = np.ones(len(person), bool)
        if agency == "council_contact":
            known = ~(
                (ev.column("channel").to_numpy(zero_copy_only=False) == "Web form")
                & (rng.random(len(person)) < ANONYMOUS_WEB_SHARE)
            )
        src = pa.nulls(len(person), pa.string())
        if known.any():
            ids = plan.source_ids(agency, person[known], rng)
            pos = np.cumsum(known) - 1
            src = pc.if_else(pa.array(known), ids.take(pa.array(np.where(known, pos, 0))), src)
        ev = ev.append_column("src", src).drop_columns(["person"])
        for lay in (x for x in LAYOUTS if x.agency == agency):
            mine = ev.filter(pc.is_in(ev.column("etype"), pa.array(lay.etypes)))
            if mine.num_rows == 0:
                continue
            mine = mine.take(pc.sort_indices(mine, [("st", "ascending"), ("uid", "ascending")]))
            mine = mine.append_column(
                "seq", pa.array(np.arange(1, mine.num_rows + 1, dtype=np.int64))
            )
            for name in ATTRS:  # attributes no event in this file has (e.g. tiny places)
                if name not in mine.column_names:
                    mine = mine.append_column(name, pa.nulls(mine.num_rows, pa.string()))
            con.register("ev", mine)
            out = con.sql(layout_sql(lay, set(mine.column_names))).to_arrow_table()
            con.unregister("ev")
            uids.append(out.column("uid").to_numpy())
            eids.append(out.column(1).cast(pa.string()).combine_chunks())
            agencies.append(pa.array(np.full(out.num_rows, agency)))
            files.append(
                ExtractFile(
                    agency=agency,
                    table="events",
                    path=lay.path,
                    data=out.drop_columns(["uid"]),
                    columns=dict(lay.mapping),
                    format=lay.format,
                    encoding=lay.encoding,
                    delimiter=lay.delimiter,
                )
            )
    con.close()
    uid = np.concatenate(uids)
    order = np.argsort(uid)
    return files, EventIds(uid[order], _concat(eids).take(order), _concat(agencies).take(order))


def _concat(parts: list[pa.Array | pa.ChunkedArray]) -> pa.ChunkedArray:
    # Large places give some parts as ChunkedArrays, which pa.concat_arrays refuses.
    chunks = [c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    return pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.string())


def split_years(b: Batch, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spread each event's cost over the financial years its days fall in (exact pence).

    Returns row index, year index and pence, one row per (event, year) with cost.
    """
    s = np.maximum(b.start // DAY, grid.start)
    open_end = grid.end + 1 if b.etype in EPISODES else None
    e = np.where(b.end < 0, open_end if open_end is not None else s + 1, -(-b.end // DAY))
    e = np.minimum(np.maximum(e, s + 1), grid.end + 1)
    bounds = np.r_[grid.year_starts, grid.end + 1]
    ny = len(grid.year_starts)
    ov = np.stack(
        [
            np.clip(np.minimum(e, bounds[y + 1]) - np.maximum(s, bounds[y]), 0, None)
            for y in range(ny)
        ],
        1,
    )
    tot = ov.sum(1)
    first = grid.year_of_day(np.minimum(s, grid.end))
    ov[tot == 0, first[tot == 0]] = 1
    tot = ov.sum(1)
    share = (b.cost[:, None] * ov) // tot[:, None]
    share[np.arange(len(b)), ov.argmax(1)] += b.cost - share.sum(1)  # remainder: exact total
    rows, years = np.nonzero(share)
    return rows, years, share[rows, years]


def build_truth(ctx: Any, sim: Any, ids: EventIds, rng: np.random.Generator) -> dict[str, Any]:
    """The truth tables (and the spend files, under the key ``_spend_files``)."""
    grid, ppl, reg = ctx.grid, ctx.ppl, ctx.reg
    pid = ppl.person_id
    # ---- event costs, and person costs by year
    ev_parts, pc_parts, act_parts = [], [], []
    for b in reg.batches:
        if not len(b):
            continue
        costed = b.cost > 0
        if costed.any():
            ev_parts.append((b.uid[costed], b.person[costed], b.cost[costed]))
        rows, years, pence = split_years(b, grid)
        pc_parts.append((b.person[rows], years, np.full(len(rows), b.agency), pence))
        act_parts.append((b.agency, b.etype, years, pence))
    uid = np.concatenate([p[0] for p in ev_parts])
    agency, eid = ids.lookup(uid)
    event_costs = pa.table(
        {
            "agency": agency,
            "event_id": eid,
            "person_id": pa.array(pid[np.concatenate([p[1] for p in ev_parts])]),
            "cost_gbp": decimal_pounds(np.concatenate([p[2] for p in ev_parts])),
        }
    )
    labels = np.array(grid.year_labels)
    pcs = pa.table(
        {
            "person_id": pa.array(pid[np.concatenate([p[0] for p in pc_parts])]),
            "year": pa.array(labels[np.concatenate([p[1] for p in pc_parts])]),
            "agency": pa.array(np.concatenate([p[2] for p in pc_parts])),
            "pence": pa.array(np.concatenate([p[3] for p in pc_parts])),
        }
    )
    pcs = pcs.group_by(["person_id", "year", "agency"]).aggregate([("pence", "sum")])
    pcs = pcs.sort_by([("person_id", "ascending"), ("year", "ascending"), ("agency", "ascending")])
    person_costs = pa.table(
        {
            "person_id": pcs.column("person_id"),
            "year": pcs.column("year"),
            "agency": pcs.column("agency"),
            "cost_gbp": decimal_pounds(pcs.column("pence_sum").to_numpy()),
        }
    )
    out: dict[str, Any] = {"event_costs": event_costs, "person_costs": person_costs}
    out["contacts"] = contacts_truth(sim, ids)
    out["transitions"] = transitions_truth(sim, ids, grid, pid, ctx.reg)
    out["programme"] = programme_truth(ctx, sim)
    spend, files = spend_truth(ctx, act_parts, rng)
    out["spend"] = spend
    out["_spend_files"] = files
    return out


def contacts_truth(sim: Any, ids: EventIds) -> pa.Table:
    c = sim.contacts
    agency, eid = ids.lookup(sim.contact_uid)
    parent = np.where(c.parent >= 0, sim.contact_uid[np.maximum(c.parent, 0)], -1)
    has = parent >= 0
    _, peid = ids.lookup(parent[has])
    follows = pa.nulls(len(parent), pa.string())
    if has.any():
        follows = pc.if_else(
            pa.array(has), peid.take(pa.array(np.where(has, np.cumsum(has) - 1, 0))), follows
        )
    svc = c.batch.attrs["service"]
    return pa.table(
        {
            "agency": agency,
            "event_id": eid,
            "service": pa.array(svc.labels).take(pa.array(svc.codes.astype(np.int32))),
            "demand_type": pa.array(np.where(c.failure, "failure", "value")),
            "category": pa.array(c.category.labels).take(
                pa.array(c.category.codes.astype(np.int32))
            ),
            "after_handoff": pa.array(c.after_handoff),
            "follows_event_id": follows,
        }
    )


# Transitions whose adverse outcome is an arrest, with its window in days after the index
# day. The transition model adds some arrests, but a released prisoner's or an excluded
# pupil's ordinary offending adds others, and those are re-arrests just the same: the truth
# says whether one happened (``adverse_outcome``), and separately whether the model put it
# there (``adverse_added``, the built-in effect of follow-up).
ARREST_OUTCOMES = {"prison_release": 180, "school_exclusion": 365}


def arrested_within(reg: Registry, person: np.ndarray, day: np.ndarray, days: int) -> np.ndarray:
    """Whether each person has an arrest 1 to ``days`` days after their ``day``."""
    arrests = reg.of("police", "arrest")
    if not arrests or not len(person):
        return np.zeros(len(person), bool)
    who = np.concatenate([b.person for b in arrests]).astype(np.int64)
    when = np.concatenate([b.start for b in arrests]) // DAY
    span = int(max(when.max(), day.max() + days)) + 1
    keys = np.sort(who * span + when)
    lo = person.astype(np.int64) * span + day + 1
    i = np.searchsorted(keys, lo, side="left")
    return (i < len(keys)) & (keys[np.minimum(i, len(keys) - 1)] <= lo + days - 1)


def transitions_truth(
    sim: Any, ids: EventIds, grid: Grid, pid: np.ndarray, reg: Registry
) -> pa.Table:
    parts = []
    for t in sim.transitions:
        agency, eid = ids.lookup(t.index_uid)
        adverse = t.adverse.copy()
        for kind, days in ARREST_OUTCOMES.items():
            sel = t.kind == kind
            if sel.any():
                adverse[sel] |= arrested_within(reg, t.person[sel], t.at[sel], days)
        parts.append(
            pa.table(
                {
                    "person_id": pa.array(pid[t.person]),
                    "kind": pa.array(t.kind, pa.string()),
                    "at": pa.array(t.at.astype(np.int32), pa.int32()).cast(pa.date32()),
                    "followed_up": pa.array(t.followed_up),
                    "followed_up_within_days": pa.array(
                        t.follow_up_days, pa.int32(), mask=t.follow_up_days < 0
                    ),
                    "adverse_outcome": pa.array(adverse),
                    "adverse_added": pa.array(t.adverse),
                    "observed_days": pa.array((grid.end - t.at).astype(np.int32)),
                    "agency": agency,
                    "event_id": eid,
                }
            )
        )
    return pa.concat_tables(parts)


def programme_truth(ctx: Any, sim: Any) -> pa.Table:
    """Eligible cohort with joiners, the true effect and each one's counterfactual cost."""
    p, grid, ppl = sim.programme, ctx.grid, ctx.ppl
    # Acute cost (A&E and admissions) from each person's join date (non-joiners: from the
    # start of the join window) to the period end, as it happened.
    since = np.full(ppl.n, np.iinfo(np.int64).max, np.int64)
    window_start = grid.half_starts[min(1, grid.n_halves - 1)]
    since[p.person] = np.where(p.joined, p.join_day, window_start) * DAY
    actual = np.zeros(ppl.n, np.int64)
    for b in ctx.reg.of("acute"):
        sel = b.start >= since[b.person]
        np.add.at(actual, b.person[sel], b.cost[sel])
    removed = np.zeros(ppl.n, np.int64)
    np.add.at(removed, p.removed_person, p.removed_cost)
    who = p.person
    return pa.table(
        {
            "person_id": pa.array(ppl.person_id[who]),
            "eligible": pa.array(np.ones(len(who), bool)),
            "joined": pa.array(p.joined),
            "join_date": pa.array(p.join_day.astype(np.int32), pa.int32(), mask=~p.joined).cast(
                pa.date32()
            ),
            "prior_ae_attendances": pa.array(p.prior.astype(np.int32)),
            "effect_rate_ratio": pa.array(np.where(p.joined, p.rate_ratio, 1.0)),
            "cost_after_gbp": decimal_pounds(actual[who]),
            "counterfactual_cost_after_gbp": decimal_pounds(actual[who] + removed[who]),
            "programme_cost_gbp": decimal_pounds(np.where(p.joined, sim.enrol_cost, 0)),
        }
    )


def spend_truth(
    ctx: Any, act_parts: list, rng: np.random.Generator
) -> tuple[pa.Table, list[ExtractFile]]:
    grid, costs = ctx.grid, ctx.costs
    labels = np.array(grid.year_labels)
    rows: dict[tuple[str, str, str], int] = {}
    for agency, etype, years, pence in act_parts:
        sums = (
            np.bincount(years, weights=pence, minlength=len(labels))
            if len(years)
            else np.zeros(len(labels))
        )
        for y, v in enumerate(sums):
            key = (agency, etype, str(labels[y]))
            rows[key] = rows.get(key, 0) + int(round(v))
    activity = pa.table(
        {
            "agency": [k[0] for k in rows],
            "etype": [k[1] for k in rows],
            "year": [k[2] for k in rows],
            "pence": list(rows.values()),
        }
    )
    extra = []
    per_day = costs.pence_per_day("jsa_claimant_fiscal")
    pupil = costs.pence("school_place")
    for b in ctx.reg.batches:
        if b.etype == "benefit_claim":
            _, yrs, dd_ = split_years(_days_as_cost(b, grid), grid)
            days = np.bincount(yrs, weights=dd_, minlength=len(labels))
            for y, dd in enumerate(days):
                extra.append(
                    SpendLine(
                        "dwp",
                        str(labels[y]),
                        "DWP (benefit expenditure)",
                        "Benefit payments",
                        "welfare",
                        "front line",
                        int(round(dd * per_day)),
                        0,
                    )
                )
        if b.etype == "attendance" and len(b):
            y = grid.year_of_day(b.start[:1] // DAY)[0]
            extra.append(
                SpendLine(
                    "schools",
                    str(labels[y]),
                    "Dedicated Schools Grant",
                    "Pupil-led funding",
                    "education",
                    "front line",
                    len(b) * pupil // 3,
                    0,
                )
            )
    extra = _merge(extra)
    lines = spend_lines(activity, extra, grid.year_labels, rng)
    # Budgets are written in cash (each year's own prices), as finance systems hold them; the
    # model works in the price year, so deflate each line to its year with the GDP deflator.
    deflator = load_deflator()
    real = np.array([ln.pence for ln in lines], np.int64)
    for ln in lines:
        factor = deflator[ln.year] / deflator[costs.price_year]
        ln.pence = int((Decimal(ln.pence) * factor).quantize(Decimal(1), ROUND_HALF_UP))
    table = pa.table(
        {
            "agency": [ln.agency for ln in lines],
            "year": [ln.year for ln in lines],
            "funder": [ln.funder for ln in lines],
            "service": [ln.service for ln in lines],
            "theme": [ln.theme for ln in lines],
            "category": [ln.category for ln in lines],
            "amount_gbp": decimal_pounds(np.array([ln.pence for ln in lines], np.int64)),
            "amount_real_gbp": decimal_pounds(real),
            "activity_cost_gbp": decimal_pounds(
                np.array([ln.activity_pence for ln in lines], np.int64)
            ),
        }
    )
    files = []
    for agency, (yc, fc, sc, tc, cc, ac, path) in SPEND_COLS.items():
        mine = [ln for ln in lines if ln.agency == agency]
        if not mine:
            continue
        data = pa.table(
            {
                yc: [ln.year for ln in mine],
                fc: [ln.funder for ln in mine],
                sc: [ln.service for ln in mine],
                tc: [ln.theme for ln in mine],
                cc: [ln.category for ln in mine],
                ac: [pounds(ln.pence) for ln in mine],
            }
        )
        files.append(
            ExtractFile(
                agency=agency,
                table="spend",
                path=path,
                data=data,
                columns={
                    "year": yc,
                    "funder": fc,
                    "service": sc,
                    "theme": tc,
                    "category": cc,
                    "amount_gbp": ac,
                },
            )
        )
    return table, files


def _days_as_cost(b: Batch, grid: Grid) -> Batch:
    """A copy of an episode batch whose 'cost' is its number of days in the period."""
    from totalplace.synth.events import overlap_days

    end_day = np.where(b.end < 0, grid.end + 1, -(-b.end // DAY))
    return Batch(
        b.agency,
        b.etype,
        b.person,
        b.start,
        b.end,
        overlap_days(b.start // DAY, end_day, grid),
        {},
        b.uid,
    )


def _merge(lines: list[SpendLine]) -> list[SpendLine]:
    by: dict[tuple, SpendLine] = {}
    for ln in lines:
        k = (ln.agency, ln.year, ln.service)
        if k in by:
            by[k].pence += ln.pence
        else:
            by[k] = ln
    return list(by.values())
