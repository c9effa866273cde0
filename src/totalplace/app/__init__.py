"""The web app: ``totalplace serve PLACE`` (FastAPI on 127.0.0.1).

>>> from totalplace.app import create_app
>>> app = create_app("anytown")                             # doctest: +SKIP

Pages: the report's sections (analysts and admins), exports of every aggregate table
(CSV, Parquet, XLSX), the cohort explorer, a person page for practitioners (their own
caseload only, with a stated purpose, every view audited), and admin pages for users,
caseloads and the audit log. Users live in ``PLACE_DIR/app/app.sqlite``
(``totalplace users add/list/disable``). The store is opened read-only per request, so
stages can publish while the app runs.
"""

from __future__ import annotations

from totalplace.app.accounts import AccountError, Accounts, User
from totalplace.app.web import create_app

__all__ = ["Accounts", "AccountError", "User", "create_app"]
