"""Plain explanations of what the machine (not the code) did: full disks, locks, Ctrl-C...

``explain(error)`` looks through an error and the errors that caused it for one a person or
the machine can cause, and returns what happened, what is intact and what to do, so the
command line can say it in one line instead of a traceback.

>>> import errno
>>> e = explain(OSError(errno.ENOSPC, "No space left on device"))
>>> e.what
'the disk is full'
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from dataclasses import dataclass

INTACT = "the store keeps its last published tables (this run published nothing)"


@dataclass(frozen=True)
class Explanation:
    what: str
    intact: str
    todo: str

    @property
    def line(self) -> str:
        return f"{self.what}; {self.intact}. {self.todo}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [error]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


_FILE = re.compile(r'(?:file|File) "([^"]+)"')


def _where(text: str) -> str:
    m = _FILE.search(text)
    return f" ({m.group(1)})" if m else ""


def explain(error: BaseException, intact: str = INTACT) -> Explanation | None:
    """What happened, what is intact and what to do, if ``error`` is the machine's doing."""
    for e in _chain(error):
        text = str(e)
        low = text.lower()
        code = getattr(e, "errno", None)
        if isinstance(e, MemoryError) or "out of memory" in low and "temp" not in low:
            return Explanation(
                "the computer ran out of memory",
                intact,
                "Close other programs, or set a lower memory limit (for link: "
                "TOTALPLACE_LINK_MEMORY=4GB), or run on a machine with more memory",
            )
        if (
            code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            or "no space left on device" in low
            or "max_temp_directory_size" in low
            or "disk quota exceeded" in low
        ):
            return Explanation(
                f"the disk is full{_where(text)}",
                intact,
                "Free some space (temporary files of this run have been removed) and run it again",
            )
        if code == errno.EROFS or "read-only file system" in low:
            return Explanation(
                f"the place's folder is read-only{_where(text)}",
                "nothing was changed",
                "Run this on a copy of the place in a folder you can write to, or ask for "
                "write access",
            )
        if (
            isinstance(e, PermissionError)
            or code in (errno.EACCES, errno.EPERM)
            or ("permission denied" in low or "operation not permitted" in low)
        ):
            return Explanation(
                f"permission denied{_where(text) or _oserror_path(e)}",
                "nothing was changed",
                "Check that you own the place's folder and its files and that none is "
                "marked read-only or immutable (lsattr), then run it again",
            )
        if (
            "not a valid duckdb database file" in low
            or "corrupt database file" in low
            or ("could not read enough bytes from file" in low)
        ):
            return Explanation(
                f"the place store is damaged{_where(text)}",
                "totalplace did not change it",
                "Restore place.duckdb from a backup, or move it aside and rebuild it from the "
                "extracts with `totalplace run PLACE`",
            )
        if (
            "java gateway process exited" in low
            or "java_gateway_exited" in low
            or ("needs a java runtime" in low)
        ):
            return Explanation(
                "Spark could not start: no Java runtime was found",
                "nothing was changed",
                "Install Java 17 or 21 (and set JAVA_HOME), or run without --engine spark",
            )
    return None


def _oserror_path(e: BaseException) -> str:
    name = getattr(e, "filename", None)
    return f" ({name})" if name else ""
