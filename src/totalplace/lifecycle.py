"""How a run ends: Ctrl-C and SIGTERM as interruptions, the cause of a failure, live processes.

``Store.stage_run`` uses these so that ``runs`` says ``interrupted`` for a run stopped by
Ctrl-C or SIGTERM (even when a library turned the interrupt into its own exception on the
way out, as Splink does), and ``failed: <cause>`` naming the real cause otherwise.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like Ctrl-C, so every clean-up on the way out runs."""


@dataclass
class Stopped:
    """Which signal (if any) stopped the run."""

    signal: int | None = None


@contextmanager
def interrupt_guard() -> Iterator[Stopped]:
    """Note Ctrl-C and SIGTERM during the block; SIGTERM raises ``Terminated``.

    Outside the main thread signals cannot be handled, and this does nothing.
    """
    stopped = Stopped()
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    prev_int = signal.getsignal(signal.SIGINT)
    prev_term = signal.getsignal(signal.SIGTERM)

    def on_int(signum, frame):
        stopped.signal = signum
        if callable(prev_int):
            prev_int(signum, frame)
        else:
            raise KeyboardInterrupt

    def on_term(signum, frame):
        stopped.signal = signum
        raise Terminated

    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, on_term)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGINT, prev_int)
        signal.signal(signal.SIGTERM, prev_term)


def outcome_of(error: BaseException, stopped: Stopped) -> tuple[str, BaseException | None]:
    """The ``runs`` outcome for a run that ended with ``error``, and what to raise instead.

    An interrupt that a library wrapped in its own exception is raised again as the
    interrupt (``KeyboardInterrupt`` or ``Terminated``), so the command says what happened.
    """
    if stopped.signal is not None or isinstance(error, KeyboardInterrupt):
        if isinstance(error, KeyboardInterrupt):
            return "interrupted", None
        return "interrupted", Terminated() if stopped.signal == signal.SIGTERM else (
            KeyboardInterrupt()
        )
    return f"failed: {cause_of(error)}", None


def cause_of(error: BaseException) -> str:
    """One line naming what went wrong: the plain explanation if there is one, else the error."""
    from totalplace.failures import explain

    plain = explain(error)
    if plain is not None:
        return plain.what
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
