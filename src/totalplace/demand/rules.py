"""The demand rules: an editable, versioned YAML file of phrases and patterns.

The built-in file is ``totalplace/demand/rules.yaml``; a place may point ``demand.rules`` in
``place.yaml`` at its own copy, and the commands take ``--rules``.

>>> rules = load_rules()
>>> rules.match(["Cust chasing update on HB claim"])[0]
('failure', 'progress chasing', 0.92)
>>> rules.match(["hello"])[0]
(None, None, 0.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from totalplace.errors import TotalplaceError

DemandType = str  # 'value' | 'failure' | 'unknown'


class RulesError(ValueError, TotalplaceError):
    """The rules file is unreadable or invalid."""


def _pattern_problems(p: str, where: str) -> list[str]:
    try:
        re.compile(p)
    except re.error as e:
        return [f"{where}: not a valid pattern ({e})"]
    # Texts are lower-cased before matching (case-insensitive matching is ~3 times slower).
    if re.search(r"(?<!\\)[A-Z]", p):
        return [
            f"{where}: write patterns in lower case (texts are matched lower-cased); found {p!r}"
        ]
    return []


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str
    demand_type: str = Field(pattern="^(value|failure)$")
    confidence: float = Field(ge=0, le=1)
    phrases: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)


class RulesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    trust_at: float = Field(0.85, ge=0, le=1)
    conflict_penalty: float = Field(0.3, ge=0, le=1)
    categories: dict[str, list[str]]
    rules: list[RuleSpec]
    cues: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_categories(self) -> RulesSpec:
        problems = []
        for i, r in enumerate(self.rules):
            if r.category not in self.categories.get(r.demand_type, []):
                problems.append(
                    f"rules[{i}]: category {r.category!r} is not among the "
                    f"{r.demand_type} categories {self.categories.get(r.demand_type, [])}"
                )
            for j, p in enumerate(r.patterns):
                problems += _pattern_problems(p, f"rules[{i}].patterns[{j}]")
        for name, pats in self.cues.items():
            for j, p in enumerate(pats):
                problems += _pattern_problems(p, f"cues.{name}[{j}]")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _phrase_body(phrase: str) -> str:
    p = phrase.strip().lower()
    star = p.endswith("*")
    body = re.escape(p.rstrip("*")).replace(r"\ ", r"\s+").replace("'", "['’]?")
    return body + (r"\w*" if star else r"(?!\w)")


def _rule_regex(r: RuleSpec) -> str:
    """One regex per rule: its phrases behind a single word boundary (much faster than one
    lookbehind per phrase), then its patterns."""
    parts = []
    if r.phrases:
        parts.append(r"\b(?:" + "|".join(_phrase_body(p) for p in r.phrases) + ")")
    parts += [f"(?:{p})" for p in r.patterns]
    return "|".join(parts)


@dataclass(frozen=True)
class Rules:
    """Compiled rules: ``match(texts)`` -> (demand_type, category, confidence) per text."""

    spec: RulesSpec
    source: str

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def trust_at(self) -> float:
        return self.spec.trust_at

    def type_of(self, category: str) -> str:
        """The demand type a category belongs to ('unknown' if it belongs to none)."""
        for t, cats in self.spec.categories.items():
            if category in cats:
                return t
        return "unknown"

    @property
    def _compiled(self) -> list[tuple[RuleSpec, re.Pattern[str]]]:
        cached = self.__dict__.get("_c")
        if cached is None:
            cached = []
            for r in self.spec.rules:
                if r.phrases or r.patterns:
                    cached.append((r, re.compile(_rule_regex(r))))
            object.__setattr__(self, "_c", cached)
        return cached

    def feature_patterns(self) -> list[tuple[str, str]]:
        """(name, regex) per rule and per cue: the rules' features for the model."""
        out = []
        for i, r in enumerate(self.spec.rules):
            if r.phrases or r.patterns:
                out.append((f"rule{i}:{r.category}", _rule_regex(r)))
        for name, pats in self.spec.cues.items():
            out.append((f"cue:{name}", "|".join(f"(?:{p})" for p in pats)))
        return out

    def match(self, texts: list[str]) -> list[tuple[str | None, str | None, float]]:
        out = []
        compiled = self._compiled
        penalty = self.spec.conflict_penalty
        for t in texts:
            t = (t or "").lower()
            best: RuleSpec | None = None
            types = set()
            for r, rx in compiled:
                if rx.search(t):
                    types.add(r.demand_type)
                    if best is None or r.confidence > best.confidence:
                        best = r
            if best is None:
                out.append((None, None, 0.0))
                continue
            conf = best.confidence - (penalty if len(types) > 1 else 0.0)
            out.append((best.demand_type, best.category, round(max(conf, 0.0), 4)))
        return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice (YAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _parse(text: str, source: str) -> Rules:
    try:
        raw: Any = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        raise RulesError(f"{source}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise RulesError(f"{source}: expected a mapping with version, categories and rules")
    try:
        spec = RulesSpec.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise RulesError(f"{source}: invalid rules file: {problems}") from None
    return Rules(spec, source)


@cache
def _builtin() -> Rules:
    path = resources.files("totalplace.demand").joinpath("rules.yaml")
    return _parse(path.read_text("utf-8"), "built-in rules.yaml")


def builtin_rules_path() -> Path:
    return Path(str(resources.files("totalplace.demand").joinpath("rules.yaml")))


def load_rules(path: str | Path | None = None) -> Rules:
    """The rules in ``path``, or the built-in ones."""
    if path is None:
        return _builtin()
    p = Path(path)
    if not p.exists():
        raise RulesError(f"{p}: rules file not found")
    return _parse(p.read_text("utf-8"), str(p))
