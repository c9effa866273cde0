"""Shared fixtures for the whole test suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# --- running on several workers (pytest-xdist, `make test` uses two) ----------------------
# Each top-level test folder is one unit of work, so a folder's session and module fixtures
# are built once; every Spark test (``test_spark.py``) is in one unit too, so two JVMs never
# compete for the two cores. Units go out in collection order, the heaviest folders first.
# (xdist's own ``--dist loadgroup`` marks cannot be used: pytest 9.2 ignores the node-id
# suffix xdist 3.8 writes for them.)


def test_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: 'spark', its folder under tests/, or 'top'."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if parts[-1] == "test_spark.py":
        return "spark"
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "top"


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class FolderScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return test_unit(nodeid)

    config.option.loadscopereorder = False
    return FolderScheduling(config, log)


def shared_build(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """``build(folder)`` once for the whole test session, even across xdist workers.

    The folder is read-only for the tests that share it. Under xdist the first worker to
    ask builds it (the others wait on a file lock) in the folder all workers share.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        out = tmp_path_factory.mktemp(name) / "anytown"
        build(out)
        return out
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    out, done = root / "anytown", root / "done"
    root.mkdir(exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not done.exists():
            build(out)
            done.touch()
    return out


ANYTOWN_RESIDENTS = 20_000
ANYTOWN_SEED = 1


@pytest.fixture(scope="session")
def anytown_20k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Anytown with 20,000 residents (seed 1), built once per test session.

    The folder holds every agency's extracts, ``place.yaml`` and ``truth/``. Treat it as
    read-only: copy it (``shutil.copytree``) before running stages that write into it.
    """
    from totalplace.synth import generate

    return shared_build(
        tmp_path_factory,
        "anytown",
        lambda out: generate(residents=ANYTOWN_RESIDENTS, seed=ANYTOWN_SEED, out=out),
    )


ANALYSIS_RESIDENTS = 20_000
ANALYSIS_SEED = 11


@pytest.fixture(scope="session")
def anytown_linked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Anytown with 20,000 residents (seed 11), ingested and linked once per test session.

    The analysis stages (demand, people, journeys, money) test against this place and its
    ``truth/``. Treat it as read-only: use ``linked_place`` for a private copy to run
    stages in.
    """
    from totalplace.place import Place
    from totalplace.synth import generate

    def build(out: Path) -> None:
        generate(residents=ANALYSIS_RESIDENTS, seed=ANALYSIS_SEED, out=out)
        with Place.open(out) as place:
            place.ingest.run()
            place.link.run()

    return shared_build(tmp_path_factory, "anytown11", build)


@pytest.fixture
def linked_place(anytown_linked: Path, tmp_path: Path) -> Path:
    """A private copy of ``anytown_linked`` that a test may run stages in."""
    import shutil

    dst = tmp_path / "anytown"
    shutil.copytree(anytown_linked, dst)
    return dst


# --- places written by tests (used by the ingest and manifest tests) ----------------------
REPO_ROOT = Path(__file__).resolve().parents[1]
MINITOWN = REPO_ROOT / "examples" / "minitown"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return REPO_ROOT


@pytest.fixture
def minitown(tmp_path) -> Path:
    """A private copy of the hand-made example place (so tests never write into the repo)."""
    import shutil

    dst = tmp_path / "minitown"
    shutil.copytree(MINITOWN, dst, ignore=shutil.ignore_patterns("*.duckdb", "*.wal", "*.py"))
    return dst


def _default_manifest(
    files: list[dict], agency: str = "acute", sector: str = "health", **top
) -> dict:
    return {
        "name": "Testtown",
        "period": {"start": "2024-04-01", "end": "2025-03-31"},
        "agencies": [{"id": agency, "name": agency.title(), "sector": sector, "files": files}],
        **top,
    }


@pytest.fixture
def default_manifest():
    """``default_manifest(files, agency="acute", sector="health", **top)``: a minimal manifest
    dict with one agency holding ``files`` (FileSpec dicts) and any top-level keys in ``top``."""
    return _default_manifest


@pytest.fixture
def make_place(tmp_path):
    """``make_place(manifest_dict, {"rel/path.csv": str | bytes}) -> Path``: a place folder.

    Text is written as UTF-8 exactly as given (no newline translation); bytes as they are.
    """
    import itertools

    import yaml

    counter = itertools.count()

    def make(manifest: dict, files: dict | None = None) -> Path:
        root = tmp_path / f"place{next(counter)}"
        root.mkdir()
        for rel, content in (files or {}).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        (root / "place.yaml").write_text(
            yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8"
        )
        return root

    return make
