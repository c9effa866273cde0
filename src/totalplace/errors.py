"""Errors raised by totalplace.

Every error a user can cause says what was wrong, what was expected and what was found.
They subclass built-in exceptions too, so callers can catch either
(``except ValueError`` or ``except TotalplaceError``).
"""

from __future__ import annotations


class TotalplaceError(Exception):
    """Base class for every error totalplace raises on purpose."""


class ManifestError(ValueError, TotalplaceError):
    """place.yaml is missing, unreadable or invalid. ``problems`` lists every problem found."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(
            f"{path}: {n} problem{'s' if n != 1 else ''} in the place manifest:\n{lines}"
        )


class InputFileError(ValueError, TotalplaceError):
    """An input file cannot be read at all (missing, empty, wrong format, columns missing)."""

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class StoreError(RuntimeError, TotalplaceError):
    """The place store is missing a table a stage needs, or a stage's SQL failed."""


class StageNotAvailable(NotImplementedError, TotalplaceError):
    """A stage that this version of totalplace does not provide yet."""

    def __init__(self, stage: str, issue: str | None = None):
        self.stage = stage
        msg = f"the '{stage}' stage is not available yet in this version of totalplace"
        if issue:
            msg += f" ({issue})"
        super().__init__(msg)


class MissingExtra(ImportError, TotalplaceError):
    """An optional dependency is not installed; the message gives the exact pip line."""

    def __init__(self, package: str, extra: str):
        super().__init__(
            f"{package} is needed for this and is not installed; "
            f'install it with: pip install "totalplace[{extra}]"'
        )


class StoreLocked(StoreError):
    """Another process holds the place store; names that process."""

    def __init__(self, path: str, pid: int, read_only: bool = False):
        self.path = path
        self.pid = pid
        who = _describe_process(pid)
        doing = "read" if read_only else "change"
        super().__init__(
            f"{path} is in use by another process ({who}), so this command could not "
            f"{doing} it; nothing was changed. Wait for that process to finish (or close it), "
            "then run this again"
        )


def _describe_process(pid: int) -> str:
    """'PID 123: totalplace link anytown' from /proc, or just 'PID 123'."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return f"PID {pid}"
    if not args:
        return f"PID {pid}"
    # python -m totalplace.cli link X / .../bin/totalplace link X: show what a person typed.
    for i, a in enumerate(args):
        if a.endswith("/totalplace") or a == "totalplace":
            args = ["totalplace", *args[i + 1 :]]
            break
        if a == "totalplace.cli" and i > 0 and args[i - 1] == "-m":
            args = ["totalplace", *args[i + 1 :]]
            break
    cmd = " ".join(args)
    return f"PID {pid}: {cmd[:120]}"
