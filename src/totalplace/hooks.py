"""Test hooks for the crash harness: kill or fail the process at a named point of a run.

Set ``TOTALPLACE_TEST_KILL_AT`` to a point name and the process sends itself SIGKILL when it
gets there; set ``TOTALPLACE_TEST_FAIL_AT=checkpoint`` to make the store's checkpoint fail as
a full disk would. They exist for ``tests/reliability`` only and cost one dictionary look-up
when unset. The points, in the order a run reaches them:

- ``started``: the ``runs`` row says ``running``; nothing is staged yet
- ``staged``: every new table is built under its staging name; the swap has not begun
- ``in_swap``: inside the swap transaction, old tables dropped and the run record written,
  before COMMIT
- ``after_swap``: the swap transaction has committed; the checkpoint has not run
- ``published``: ``publish`` has returned to the stage; the stage has not finished
"""

from __future__ import annotations

import errno
import os
import signal

KILL_ENV = "TOTALPLACE_TEST_KILL_AT"
FAIL_ENV = "TOTALPLACE_TEST_FAIL_AT"
POINTS = ("started", "staged", "in_swap", "after_swap", "published")


def kill_point(name: str) -> None:
    """SIGKILL this process if ``TOTALPLACE_TEST_KILL_AT`` names ``name``."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def fail_point(name: str) -> None:
    """Raise 'No space left on device' if ``TOTALPLACE_TEST_FAIL_AT`` names ``name``."""
    if os.environ.get(FAIL_ENV) == name:
        raise OSError(errno.ENOSPC, f"No space left on device (test hook at {name})")
