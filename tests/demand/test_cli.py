"""``totalplace demand ...`` commands: train, classify, sample; clear one-line errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from totalplace.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "contacts_other_voice.csv"


def test_train_then_classify(tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "demand",
            "train",
            str(FIXTURE),
            "--text-col",
            "text",
            "--label-col",
            "demand_type",
            "--category-col",
            "category",
            "--folds",
            "3",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "macro-F1" in r.output and "baseline" in r.output
    assert (tmp_path / "m" / "model.json").exists()
    r = CliRunner().invoke(
        main,
        [
            "demand",
            "classify",
            str(FIXTURE),
            "--text-col",
            "text",
            "--model",
            str(tmp_path / "m"),
            "--out",
            str(tmp_path / "out.parquet"),
        ],
    )
    assert r.exit_code == 0, r.output
    t = pq.read_table(tmp_path / "out.parquet")
    assert t.column_names[:3] == ["text", "demand_type", "category"]
    assert t.column_names[-4:] == ["demand_type", "category", "confidence", "method"] or {
        "confidence",
        "method",
    } <= set(t.column_names)


def test_classify_without_a_model_uses_the_builtin_one(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,Reason\n1,Still waiting for my refund\n2,What day is my bin collected?\n")
    r = CliRunner().invoke(
        main,
        ["demand", "classify", str(src), "--text-col", "Reason", "--out", str(tmp_path / "o.csv")],
    )
    assert r.exit_code == 0, r.output
    out = (tmp_path / "o.csv").read_text()
    assert out.splitlines()[0] == '"id","Reason","demand_type","category","confidence","method"'
    assert '"failure"' in out.splitlines()[1] and '"value"' in out.splitlines()[2]


def test_a_missing_column_is_one_clear_line(tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "demand",
            "classify",
            str(FIXTURE),
            "--text-col",
            "Notes",
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert r.exit_code == 1
    assert "no column 'Notes' (--text-col); the file has: text, demand_type, category" in r.output
    assert "Traceback" not in r.output


def test_bad_labels_say_what_was_found(tmp_path):
    src = tmp_path / "l.csv"
    src.write_text(
        "t,l\n" + "".join(f"text {i},{'yes' if i % 2 else 'value'}\n" for i in range(30))
    )
    r = CliRunner().invoke(
        main,
        [
            "demand",
            "train",
            str(src),
            "--text-col",
            "t",
            "--label-col",
            "l",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert r.exit_code == 1
    assert "labels must be 'value' or 'failure'; found 'yes'" in r.output


def test_every_command_ends_with_an_example():
    from totalplace.demand.cli import demand

    for name, cmd in demand.commands.items():
        assert "totalplace demand " in (cmd.help or "").split("Example:")[-1], name
