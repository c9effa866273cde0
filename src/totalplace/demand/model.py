"""The statistical text classifier, and the combination with the rules.

A ``TextModel`` is a scikit-learn pipeline (TF-IDF on word 1-2-grams and on character
2-5-grams inside word boundaries, then logistic regression, whose probabilities serve as the
confidence) trained on categories when the labelled sample has them (a category's
probability adds to its demand type's) or on demand types alone. It is saved with joblib
beside ``model.json``: its cross-validated metrics, the rules version it was measured with,
the method that measured best (the default for classifying with it) and the versions of
scikit-learn and totalplace that made it.

>>> texts = ["chasing my claim", "still waiting on my repair", "apply for a permit",
...          "book a bulky collection", "any update on my case", "pay my bill"] * 3
>>> labels = ["failure", "failure", "value", "value", "failure", "value"] * 3
>>> m = train_model(texts, labels, folds=3)
>>> m.classify(["chasing the permit"])["demand_type"][0]
'failure'
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from totalplace import __version__
from totalplace.demand.rules import Rules, load_rules
from totalplace.errors import TotalplaceError

METHODS = ("combined", "model", "rules")
MODEL_FILE = "model.joblib"
META_FILE = "model.json"


class ModelError(ValueError, TotalplaceError):
    """A labelled sample or a saved model that cannot be used."""


class RuleFeatures:
    """One feature per rule and per cue of the rules file (1 where its pattern matches).

    Plain regex strings are kept (not compiled patterns), so the fitted model pickles and the
    features are exactly the rules it was trained with.
    """

    def __init__(self, patterns: list[tuple[str, str]] | None = None, weight: float = 0.5):
        self.patterns = patterns or []
        self.weight = weight

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"patterns": self.patterns, "weight": self.weight}

    def set_params(self, **params) -> RuleFeatures:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, texts, y=None) -> RuleFeatures:
        return self

    def transform(self, texts):
        import re

        from scipy import sparse

        compiled = [re.compile(p) for _, p in self.patterns]
        lowered = [t.lower() for t in texts]  # patterns are written in lower case
        rows, cols = [], []
        for j, rx in enumerate(compiled):
            search = rx.search
            hits = [i for i, t in enumerate(lowered) if search(t)]
            rows.extend(hits)
            cols.extend([j] * len(hits))
        data = np.full(len(rows), self.weight)
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(texts), len(compiled)))

    def fit_transform(self, texts, y=None):
        return self.transform(texts)

    def get_feature_names_out(self, input_features=None):
        return np.array([n for n, _ in self.patterns], dtype=object)


def features(rules: Rules | None = None):
    """Word and character n-gram TF-IDF features and the rules' features (a FeatureUnion)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    min_df=1,
                    token_pattern=r"(?u)\b\w[\w']*\b",
                    strip_accents="unicode",
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=2,
                    strip_accents="unicode",
                    max_features=200_000,
                ),
            ),
            ("rules", RuleFeatures((rules or load_rules()).feature_patterns())),
        ]
    )


def make_pipeline(c: float = 8.0, rules: Rules | None = None):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("features", features(rules)),
            ("clf", LogisticRegression(C=c, max_iter=2000, class_weight="balanced")),
        ]
    )


def baseline_pipeline():
    """The plain baseline the issue compares against: TF-IDF (words) + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(max_iter=1000))])


def _one_thread():
    """BLAS on one thread: small sparse fits are slower with more (and the machine is shared)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _clean(texts) -> list[str]:
    return ["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in texts]


def _norm_labels(labels, what: str) -> list[str]:
    return [str(x).strip().lower() if x is not None else "" for x in labels]


@dataclass
class TextModel:
    """A trained classifier: ``classify(texts)`` -> columns demand_type, category, ..."""

    pipeline: Any
    type_of: dict[str, str]  # class -> demand type ('value'/'failure')
    has_categories: bool
    rules: Rules
    method: str = "combined"
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    oof_p_failure: np.ndarray | None = None

    # --- predicting ------------------------------------------------------------------------
    def predict_model(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The statistical model alone: type, its probability, category, its probability."""
        texts = _clean(texts)
        proba = self.pipeline.predict_proba(texts)
        classes = list(self.pipeline.classes_)
        is_fail = np.array([self.type_of[c] == "failure" for c in classes])
        p_fail = proba[:, is_fail].sum(axis=1)
        dtype = np.where(p_fail >= 0.5, "failure", "value")
        conf = np.where(p_fail >= 0.5, p_fail, 1 - p_fail)
        names = np.array(classes, dtype=object)
        if self.has_categories:
            # The most likely category within each demand type.
            cat_f = names[np.where(is_fail[None, :], proba, -1.0).argmax(axis=1)]
            cat_v = names[np.where(~is_fail[None, :], proba, -1.0).argmax(axis=1)]
            if not is_fail.any():
                cat_f[:] = None
            if is_fail.all():
                cat_v[:] = None
        else:
            cat_f = np.full(len(texts), None, dtype=object)
            cat_v = np.full(len(texts), None, dtype=object)
        cat = np.where(dtype == "failure", cat_f, cat_v)
        return {
            "demand_type": dtype,
            "confidence": conf,
            "category": cat,
            "p_failure": p_fail,
            "category_if_failure": cat_f,
            "category_if_value": cat_v,
        }

    def classify(self, texts, method: str | None = None) -> dict[str, np.ndarray]:
        """Classify texts by ``method`` (default: the one that measured best when trained).

        Each distinct text is classified once (contact centres repeat many texts).
        """
        texts = _clean(texts)
        uniq, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
        r = combine(list(uniq), self.rules, self, method or self.method)
        return {k: v[inverse] for k, v in r.items()}

    # --- saving ----------------------------------------------------------------------------
    def save(self, out: str | Path) -> Path:
        import joblib
        import sklearn

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {"pipeline": self.pipeline, "type_of": self.type_of, "cats": self.has_categories},
            out / MODEL_FILE,
        )
        meta = {
            **self.meta,
            "method": self.method,
            "rules_version": self.rules.version,
            "rules_source": self.rules.source,
            "metrics": self.metrics,
            "sklearn_version": sklearn.__version__,
            "totalplace_version": __version__,
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        return out


def load_model(model_dir: str | Path, rules: Rules | None = None) -> TextModel:
    """A model saved by ``TextModel.save`` (``demand train``)."""
    import joblib
    import sklearn

    d = Path(model_dir)
    if not (d / MODEL_FILE).exists() or not (d / META_FILE).exists():
        raise ModelError(
            f"{d}: not a demand model folder (expected {MODEL_FILE} and {META_FILE}, "
            "as written by `totalplace demand train`)"
        )
    meta = json.loads((d / META_FILE).read_text("utf-8"))
    if meta.get("sklearn_version") != sklearn.__version__:
        warnings.warn(
            f"{d} was saved with scikit-learn {meta.get('sklearn_version')}; this is "
            f"{sklearn.__version__}. Retrain it if results look wrong.",
            stacklevel=2,
        )
    obj = joblib.load(d / MODEL_FILE)
    rules = rules or load_rules()
    return TextModel(
        obj["pipeline"],
        obj["type_of"],
        obj["cats"],
        rules,
        meta.get("method", "combined"),
        meta.get("metrics", {}),
        {k: v for k, v in meta.items() if k not in ("metrics", "method")},
    )


def combine(texts: list[str], rules: Rules, model: TextModel | None, method: str):
    """Rules where they are confident, the model otherwise; ``method`` says which decided."""
    if method not in METHODS:
        raise ModelError(f"method must be one of {', '.join(METHODS)}; found {method!r}")
    n = len(texts)
    out = {
        "demand_type": np.full(n, "unknown", dtype=object),
        "category": np.full(n, None, dtype=object),
        "confidence": np.zeros(n),
        "method": np.full(n, "none", dtype=object),
        "p_failure": np.full(n, 0.5),
        "category_if_failure": np.full(n, None, dtype=object),
        "category_if_value": np.full(n, None, dtype=object),
    }
    empty = np.array([not t.strip() for t in texts], dtype=bool)
    if method in ("combined", "model") and model is not None:
        m = model.predict_model(texts)
        for k in ("demand_type", "category", "confidence", "p_failure"):
            out[k][:] = m[k]
        out["category_if_failure"][:] = m["category_if_failure"]
        out["category_if_value"][:] = m["category_if_value"]
        out["method"][:] = "model"
    if method in ("combined", "rules") or model is None:
        matched = rules.match(texts)
        threshold = rules.trust_at if (method == "combined" and model is not None) else 0.0
        for i, (t, c, conf) in enumerate(matched):
            if t is not None and conf >= threshold and conf > 0:
                out["demand_type"][i], out["category"][i] = t, c
                out["confidence"][i] = conf
                out["method"][i] = "rules"
                out["p_failure"][i] = conf if t == "failure" else 1 - conf
                out[f"category_if_{t}"][i] = c
    out["demand_type"][empty] = "unknown"
    out["category"][empty] = None
    out["confidence"][empty] = 0.0
    out["method"][empty] = "none"
    out["p_failure"][empty] = 0.5
    out["confidence"] = np.round(out["confidence"].astype(float), 4)
    return out


def scores(truth, pred) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    truth, pred = list(truth), list(pred)
    return {
        "accuracy": round(float(accuracy_score(truth, pred)), 4),
        "macro_f1": round(float(f1_score(truth, pred, average="macro", zero_division=0)), 4),
        "n": len(truth),
    }


def _type_map(labels: list[str], categories: list[str], rules: Rules) -> dict[str, str]:
    """Each category's demand type: the rules' own, else the majority label it came with."""
    out: dict[str, str] = {}
    for cat in sorted(set(categories)):
        known = rules.type_of(cat)
        if known != "unknown":
            out[cat] = known
            continue
        with_cat = [lab for lab, c in zip(labels, categories, strict=True) if c == cat]
        out[cat] = max(set(with_cat), key=with_cat.count)
    return out


def train_model(
    texts,
    labels,
    categories=None,
    rules: Rules | None = None,
    folds: int = 5,
    seed: int = 0,
    c: float = 8.0,
) -> TextModel:
    """Train on a labelled sample; measure model, rules and combined by cross-validation."""
    rules = rules or load_rules()
    texts = _clean(texts)
    labels = _norm_labels(labels, "label")
    bad = sorted({lab for lab in labels if lab not in ("value", "failure")})
    if bad:
        raise ModelError(
            "labels must be 'value' or 'failure'; found " + ", ".join(repr(b) for b in bad[:5])
        )
    if len(set(labels)) < 2:
        raise ModelError("the labelled sample needs both value and failure examples")
    cats = None
    if categories is not None:
        cats = _norm_labels(categories, "category")
        cats = [c_ or lab for c_, lab in zip(cats, labels, strict=True)]
    target = cats if cats is not None else labels
    type_of = _type_map(labels, target, rules) if cats is not None else {x: x for x in labels}
    # A category's label may disagree with the label column (staff mislabels); the label
    # column is the truth for the demand type.
    pipe = make_pipeline(c, rules)

    metrics, best, oof = (
        cross_validate(pipe, texts, labels, target, type_of, rules, folds, seed)
        if folds >= 2
        else ({"n": len(texts), "folds": 0}, "combined", None)
    )
    with _one_thread():
        pipe.fit(texts, target)
    meta = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "classes": list(pipe.classes_),
        "type_of": type_of,
    }
    model = TextModel(pipe, type_of, cats is not None, rules, best, metrics, meta)
    # Out-of-fold P(failure) of each labelled text (for learning how far to trust the text
    # against the linked history); not saved with the model.
    model.oof_p_failure = oof
    return model


def cross_validate(pipe, texts, labels, target, type_of, rules, folds, seed):
    """Cross-validated scores of model, rules, combined and the plain baseline; the best."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    cats = target if target is not labels else None
    counts = {t: labels.count(t) for t in set(labels)}
    k = max(2, min(folds, min(counts.values())))
    metrics: dict[str, Any] = {"n": len(texts), "folds": k}
    y = np.array(target, dtype=object)
    cv_model = TextModel(pipe, type_of, cats is not None, rules)
    preds: dict[str, list] = {m: [None] * len(texts) for m in METHODS}
    p_oof: dict[str, np.ndarray] = {m: np.full(len(texts), 0.5) for m in METHODS}
    cat_preds: dict[str, list] = {m: [None] * len(texts) for m in METHODS}
    # Stratify on the demand type (categories may be too small for k folds).
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    arr = np.array(texts, dtype=object)
    for tr, te in skf.split(arr, np.array(labels)):
        with _one_thread():
            fold = clone(pipe).fit(list(arr[tr]), list(y[tr]))
        cv_model.pipeline = fold
        for m in METHODS:
            r = combine(list(arr[te]), rules, cv_model, m)
            for j, i in enumerate(te):
                preds[m][i] = r["demand_type"][j]
                cat_preds[m][i] = r["category"][j]
                p_oof[m][i] = r["p_failure"][j]
    for m in METHODS:
        metrics[m] = scores(labels, preds[m])
        if cats is not None:
            metrics[m]["category_accuracy"] = round(
                float(np.mean([a == b for a, b in zip(cats, cat_preds[m], strict=True)])), 4
            )
        metrics[m]["share"] = round(
            float(np.mean([p != "unknown" for p in preds[m]])), 4
        )  # share of texts it gave a type to
    base = baseline_pipeline()
    bpred = [None] * len(texts)
    for tr, te in skf.split(arr, np.array(labels)):
        with _one_thread():
            f = clone(base).fit(list(arr[tr]), [labels[i] for i in tr])
        for j, p in zip(te, f.predict(list(arr[te])), strict=True):
            bpred[j] = p
    metrics["baseline"] = scores(labels, bpred)
    best = max(("combined", "model"), key=lambda m: (metrics[m]["macro_f1"], m == "combined"))
    return metrics, best, p_oof[best]
