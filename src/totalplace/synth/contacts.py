"""The council contact centre: calls, web forms and visits, with free-text reasons.

Value demand comes from residents' needs and circumstances; failure demand follows earlier
contacts of the same person about the same service, most often after a handoff from the
front door to a back office (progress chasing, things not done or not done right, letters
not understood, repeat contacts). The true demand type and category of every contact go to
``truth/contacts.parquet``; the extract only carries the text, as a real one would.

Reasons are generated from ``data/contact_templates/contacts.yaml``: templates with slots,
paraphrase and typos. A pool of distinct texts is built per service and category and sampled,
so millions of contacts cost little time.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from totalplace.synth.events import Attr, Batch, draw_counts, expand, pick, rates, working_day
from totalplace.synth.health import Ctx
from totalplace.synth.model import DAY

CHANNEL = ["Telephone", "Web form", "Face to face"]
CHANNEL_COST = ["contact_phone", "contact_web", "contact_face_to_face"]
OUTCOME = [
    "Resolved at first point of contact",
    "Passed to back office",
    "Appointment booked",
    "Information given",
    "Complaint logged",
]
_SLOT = re.compile(r"\{(\w+)\}")
POOL_MAX = 700  # distinct texts per (service, category); enough for any sample to look varied


@cache
def templates() -> dict[str, Any]:
    """The contact templates (``data/contact_templates/contacts.yaml``), read once."""
    path = (
        resources.files("totalplace.data").joinpath("contact_templates").joinpath("contacts.yaml")
    )
    return yaml.safe_load(path.read_text("utf-8"))


def _typo(text: str, r: random.Random, words: dict[str, str]) -> str:
    kind = r.random()
    if kind < 0.35:
        hits = [w for w in words if w in text]
        if hits:
            w = r.choice(hits)
            return text.replace(w, words[w], 1)
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text
    i = r.choice(letters[1:-1])
    if kind < 0.6:  # swap two neighbours
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind < 0.8:  # drop a letter
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]  # double a letter


@cache
def _paraphrases(_key: int) -> list[tuple[re.Pattern[str], list[str]]]:
    """Paraphrase phrases as whole-word patterns (so 'Cust' never matches inside 'Customer')."""
    return [
        (re.compile(rf"(?<![\w']){re.escape(k)}(?![\w'])"), [a.replace("\\", "") for a in v])
        for k, v in templates()["paraphrase"].items()
    ]


def make_text(
    template: str, slots: dict[str, list[str]], r: random.Random, cfg: dict[str, Any]
) -> str:
    """Fill one template, then paraphrase and perhaps misspell it."""
    text = _SLOT.sub(
        lambda m: r.choice(slots[m.group(1)]) if m.group(1) in slots else m.group(0), template
    )
    for pattern, alts in _paraphrases(id(cfg)):
        if r.random() < 0.5 and pattern.search(text):
            text = pattern.sub(r.choice(alts), text, count=1)
    text = re.sub(r"\s{2,}", " ", text).strip()
    if text and text[0].islower() and r.random() < 0.7:
        text = text[0].upper() + text[1:]
    ty = cfg["typos"]
    if r.random() < ty["rate"]:
        text = _typo(text, r, ty["words"])
        if r.random() < 0.3:
            text = _typo(text, r, ty["words"])
    if r.random() < ty["lower_rate"]:
        text = text.lower()
    return text


@cache
def _third_person(_key: int) -> list[tuple[re.Pattern[str], str]]:
    """First-person phrases to an agent's third-person note, longest first."""
    pairs = templates().get("hard", {}).get("third_person", {})
    return [
        (re.compile(rf"(?<![\w']){re.escape(k)}(?![\w'])", re.IGNORECASE), v)
        for k, v in sorted(pairs.items(), key=lambda kv: -len(kv[0]))
    ]


def to_third_person(text: str) -> str:
    """'I need help with my rent' -> 'caller needs help with their rent' (an agent's note)."""
    for pattern, repl in _third_person(0):
        text = pattern.sub(repl, text)
    return text


def _pick_template(
    r: random.Random, tmpl: list[str], hard: dict[str, Any], category: str, value: bool
) -> str:
    """A template: a terse note, a hard one (no cue words, or a complaint), or the usual."""
    if not hard.get("enabled"):
        return r.choice(tmpl)
    if r.random() < hard["terse_rate"]:
        return r.choice(hard["terse"])
    if value:
        t = r.choice(tmpl)
        if r.random() < hard["complaint_rate"]:
            t = r.choice(hard["complaint"]) + _SLOT.sub(
                lambda m: "" if m.group(1) == "opener" else m.group(0), t
            )
        return t
    extra = hard["failure"].get(category, [])
    if extra and r.random() < hard["hard_rate"]:
        return r.choice(extra)
    return r.choice(tmpl)


def text_pool(service: str, category: str, k: int, seed: int) -> list[str]:
    """``k`` reasons (many distinct) for one service and demand category."""
    cfg = templates()
    svc = cfg["services"][service]
    hard = cfg.get("hard", {"enabled": False})
    slots = {**cfg["common"], **svc["slots"]}
    if hard.get("enabled"):
        slots.setdefault("wrong_quiet", hard["wrong_quiet"])
    value = category in svc["value"]
    if value:
        tmpl = svc["value"][category] + cfg.get("extra_value", {}).get(service, {}).get(
            category, []
        )
    else:
        tmpl = cfg["failure_templates"][category]
    r = random.Random(seed)
    out = []
    for _ in range(k):
        text = make_text(_pick_template(r, tmpl, hard, category, value), slots, r, cfg)
        if hard.get("enabled") and r.random() < hard["third_person_rate"]:
            text = to_third_person(text)
        out.append(text)
    return out


FAILURE = [
    "progress chasing",
    "not done",
    "not done right",
    "did not understand letter",
    "repeat contact",
]
# Category mix of failure demand after a handoff to a back office, and otherwise.
AFTER_HANDOFF = [0.5, 0.2, 0.08, 0.02, 0.2]
NO_HANDOFF = [0.12, 0.08, 0.25, 0.35, 0.2]


@dataclass
class Contacts:
    """The contact-centre events and, for the truth, their demand type and category."""

    batch: Batch
    service: np.ndarray  # index into services()
    failure: np.ndarray  # bool
    category: Attr  # demand category per row
    parent: np.ndarray  # row index of the contact it followed, or -1
    after_handoff: np.ndarray  # bool: the parent was passed to a back office


def services() -> list[str]:
    return list(templates()["services"])


def contact_centre(ctx: Ctx) -> Contacts:
    """Generate contacts: value demand from residents, then failure demand that follows it."""
    rng, ppl, grid = ctx.rng, ctx.ppl, ctx.grid
    cfg = templates()
    svcs = services()
    spec = {
        "base_per_year": {0: 0.0, 16: 0.18, 25: 0.3, 65: 0.28, 80: 0.3},
        "needs": {
            "homelessness": 4.0,
            "unemployment": 1.8,
            "frailty": 1.6,
            "domestic_abuse": 1.5,
            "mental_health": 1.2,
            "learning_disability": 1.3,
        },
        "latent": 0.15,
        "intensity": 0.5,
    }
    lam = rates(ppl, spec, grid, ctx.inten)
    person, half, day0 = expand(draw_counts(lam, 0.8, rng), grid, rng, None, ppl.died)
    m = len(person)
    # Which service: shares shifted by the person's circumstances.
    w = np.tile(np.array([0.2, 0.1, 0.2, 0.1, 0.05, 0.04, 0.08, 0.05, 0.1, 0.08]), (m, 1))
    act = ppl.active
    w[:, svcs.index("housing_options")] += 0.8 * act["homelessness"][person, half]
    w[:, svcs.index("benefits")] += 0.3 * act["unemployment"][person, half]
    w[:, svcs.index("adult_social_care")] += 0.3 * (
        act["frailty"][person, half] | (ppl.age[person] >= 75)
    )
    w[:, svcs.index("housing_repairs")] *= np.exp(0.4 * ppl.latent[person])
    w[:, svcs.index("environmental_health")] += 0.1 * act["domestic_abuse"][person, half]
    cum = np.cumsum(w, axis=1)
    svc = (cum < (rng.random(m) * cum[:, -1])[:, None]).sum(axis=1).astype(np.int16)
    handoff_p = np.array([cfg["services"][s]["handoff"] for s in svcs])
    handed = rng.random(m) < handoff_p[svc]
    # Value category within the service, uniform over the service's value categories.
    vcat_names = [list(cfg["services"][s]["value"]) for s in svcs]
    nv = np.array([len(v) for v in vcat_names])
    vcat = (rng.random(m) * nv[svc]).astype(np.int64)
    # Channel: older people phone and visit more. Phone lines and the front desk are open
    # on working days only, so those contacts move off weekends (before any follow-up is
    # timed, so a failure contact always comes after the contact it follows).
    old = ppl.age[person] >= 70
    vchan = np.where(old, pick(rng, m, [0.72, 0.1, 0.18]), pick(rng, m, [0.5, 0.38, 0.12]))
    vday = day0 // DAY
    vday = np.where(vchan != 1, np.minimum(working_day(vday, rng), grid.end), vday)
    # Failure demand: the target share f of each service's contacts, each following an
    # earlier value contact of the same person (handed-off ones three times as likely).
    fshare = np.array([cfg["services"][s]["failure_share"] for s in svcs])
    parents, cats = [], []
    for s in range(len(svcs)):
        rows = np.flatnonzero(svc == s)
        if len(rows) == 0:
            continue
        k = int(round(len(rows) * fshare[s] / (1 - fshare[s]) * 1.08))
        wt = np.where(handed[rows], 3.0, 1.0)
        par = rows[rng.choice(len(rows), size=k, p=wt / wt.sum())]
        parents.append(par)
    par = np.concatenate(parents) if parents else np.zeros(0, np.int64)
    lag = 1 + rng.exponential(12, len(par)).astype(np.int64)
    fday = vday[par] + lag
    fold = ppl.age[person[par]] >= 70
    fchan = np.where(
        fold,
        pick(rng, len(par), [0.72, 0.1, 0.18]),
        pick(rng, len(par), [0.5, 0.38, 0.12]),
    )
    fday = np.where(fchan != 1, working_day(fday, rng), fday)
    keep = (fday <= grid.end) & (fday <= ppl.died[person[par]])
    par, fday, fchan = par[keep], fday[keep], fchan[keep]
    f_after = handed[par]
    fcat = np.where(f_after, pick(rng, len(par), AFTER_HANDOFF), pick(rng, len(par), NO_HANDOFF))
    # Assemble: value rows first, then failure rows.
    all_person = np.concatenate([person, person[par]])
    all_svc = np.concatenate([svc, svc[par]])
    all_day = np.concatenate([vday, fday])
    failure = np.r_[np.zeros(m, bool), np.ones(len(par), bool)]
    parent = np.r_[np.full(m, -1), par]
    after = np.r_[np.zeros(m, bool), f_after]
    n_all = len(all_person)
    chan = np.r_[vchan, fchan].astype(np.int16)
    secs = all_day * DAY + _time_by_channel(chan, ctx)
    cost_by_chan = np.array([ctx.costs.pence(c) for c in CHANNEL_COST], np.int64)
    outcome = np.where(
        failure,
        pick(rng, n_all, [0.35, 0.4, 0.05, 0.0, 0.2]),
        np.where(
            np.r_[handed, np.zeros(len(par), bool)],
            1,
            pick(rng, n_all, [0.6, 0.0, 0.15, 0.25, 0.0]),
        ),
    )
    dur = np.where(chan == 1, 0, rng.gamma(2.0, 180 + 120 * failure, n_all)).astype(np.int64)
    cats = sorted({c for v in vcat_names for c in v}) + FAILURE
    lookup = np.full((len(svcs), int(nv.max())), -1, np.int16)
    for i, v in enumerate(vcat_names):
        lookup[i, : len(v)] = [cats.index(c) for c in v]
    cat_code = np.r_[lookup[svc, vcat], len(cats) - len(FAILURE) + fcat].astype(np.int16)
    category = Attr(cat_code, cats)
    text = _reasons(all_svc, category, rng)
    batch = Batch(
        "council_contact",
        "contact",
        all_person,
        secs,
        np.where(chan == 1, -1, secs + dur),
        cost_by_chan[chan],
        {
            "channel": Attr(chan, CHANNEL),
            "outcome": Attr(outcome.astype(np.int16), OUTCOME),
            "service": Attr(
                all_svc.astype(np.int16), [templates()["services"][s]["name"] for s in svcs]
            ),
            "reason": text,
        },
    )
    return Contacts(batch, all_svc, failure, category, parent, after)


def _time_by_channel(chan: np.ndarray, ctx: Ctx) -> np.ndarray:
    from totalplace.synth.events import time_of_day

    out = np.empty(len(chan), np.int64)
    for code, hours in ((0, "office"), (1, "web"), (2, "visits")):
        sel = chan == code
        out[sel] = time_of_day(int(sel.sum()), ctx.hours(hours), ctx.rng)
    return out


def _reasons(svc: np.ndarray, category: Attr, rng: np.random.Generator) -> Attr:
    """Free text for each contact, drawn from a pool per (service, category)."""
    names = services()
    key = svc.astype(np.int64) * 1000 + category.codes
    uniq, inv = np.unique(key, return_inverse=True)
    labels: list[str] = []
    codes = np.empty(len(svc), np.int32)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
    for u, k in enumerate(uniq.tolist()):
        rows = order[bounds[u] : bounds[u + 1]]
        s, c = names[k // 1000], category.labels[k % 1000]
        size = int(min(POOL_MAX, max(20, len(rows) * 0.7)))
        pool = text_pool(s, c, size, int(rng.integers(0, 2**31)))
        codes[rows] = len(labels) + rng.integers(0, size, len(rows))
        labels.extend(pool)
    return Attr(codes, labels)
