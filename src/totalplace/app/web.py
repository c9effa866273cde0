"""The web app: the report's pages, the person page, cohorts, exports, users and audit.

Roles: ``analyst`` sees aggregates only; ``practitioner`` sees person pages only for people
on their own caseload, stating a purpose for each view; ``admin`` manages users and
caseloads and reads the audit log. Every person-page request is written to the audit log
(allowed or denied). Sessions are signed cookies (Starlette's SessionMiddleware).
"""

from __future__ import annotations

import json
import secrets
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from totalplace.app.accounts import ROLES, AccountError, Accounts, User
from totalplace.app.data import PlaceData
from totalplace.app.exports import FORMATS, export
from totalplace.errors import StoreLocked, TotalplaceError
from totalplace.report.charts import figure as as_figure
from totalplace.report.render import figure_json, plotly_js, report_bundle, report_js
from totalplace.report.sections import PARTS

PURPOSES = (
    "Direct work with the person",
    "Safeguarding",
    "Case review or supervision",
    "Planning support with other agencies",
)
AGGREGATE_ROLES = ("analyst", "admin")


class LoginRequired(Exception):
    """Raised when a page needs a signed-in user; answered with a redirect to /login."""


@cache
def _env() -> jinja2.Environment:
    def load(name: str) -> str:
        pkg = "totalplace.report" if name in ("sections.html", "style.css") else "totalplace.app"
        return resources.files(pkg).joinpath("templates", name).read_text("utf-8")

    from totalplace.report.render import template_env

    return template_env(load)


def secret_key(app_dir: Path) -> str:
    """The session-signing key, made once per place and kept readable by its owner only."""
    p = app_dir / "secret"
    if not p.exists():
        app_dir.mkdir(parents=True, exist_ok=True)
        p.write_text(secrets.token_hex(32))
        p.chmod(0o600)
    return p.read_text().strip()


def create_app(
    place, accounts: Accounts | None = None, disclosure=None, **store_window: float
) -> FastAPI:
    """The app for one place: its folder (or an open ``Place``, of which only the folder and
    store file are used).

    The app opens the place's store read-only only while requests read it (``store_window``:
    ``keep_open`` and ``max_open`` seconds, see ``PlaceData``), so stages can run and publish
    while it serves; the next request shows what they published.
    """
    data = PlaceData(place, disclosure, **store_window)
    root = data.root
    accounts = accounts or Accounts.for_place(root)
    app = FastAPI(title=f"totalplace: {data.name}", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(root / "app"),
        session_cookie="totalplace_session",
        max_age=8 * 3600,
        same_site="strict",
    )
    app.state.data = data
    app.state.accounts = accounts

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(StoreLocked)
    async def busy(request: Request, exc: StoreLocked):
        user = _user(request, required=False)
        return page(
            request,
            "error.html",
            user,
            status_code=503,
            title="Busy",
            message="A stage is publishing new results for this place; try again in a moment.",
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        user = _user(request, required=False)
        return page(
            request,
            "error.html",
            user,
            status_code=exc.status_code,
            title={403: "Not allowed", 404: "Not found"}.get(exc.status_code, "Error"),
            message=exc.detail,
        )

    # --- helpers -----------------------------------------------------------------------------
    def _user(request: Request, required: bool = True) -> User | None:
        name = request.session.get("user")
        u = accounts.user(name) if name else None
        if u is None or not u.active:
            if required:
                raise LoginRequired()
            return None
        return u

    def _csrf(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(24)
        return request.session["csrf"]

    def _check_csrf(request: Request, token: str) -> None:
        if not token or not secrets.compare_digest(token, request.session.get("csrf", "")):
            raise HTTPException(403, "This form has expired; go back, reload and try again.")

    def require(request: Request, *roles: str) -> User:
        u = _user(request)
        if u.role not in roles:
            raise HTTPException(403, f"Your role ({u.role}) cannot see this page.")
        return u

    def page(
        request: Request, template: str, user: User | None, status_code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        html = (
            _env()
            .get_template(template)
            .render(
                user=user,
                place_name=data.name,
                parts=PARTS,
                csrf=_csrf(request),
                request_path=request.url.path,
                **ctx,
            )
        )
        return HTMLResponse(html, status_code=status_code)

    # --- sign in / out ------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/"):
        return page(request, "login.html", None, next=next, error="")

    @app.post("/login")
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form("/"),
    ):
        _check_csrf(request, csrf)
        u = accounts.check_password(username.strip(), password)
        if u is None:
            return page(
                request,
                "login.html",
                None,
                status_code=401,
                next=next,
                error="That username and password do not match an active user.",
            )
        request.session.clear()
        request.session["user"] = u.username
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        return RedirectResponse(target, status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")):
        _check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # --- home -----------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        u = _user(request)
        if u.role == "practitioner":
            return RedirectResponse("/caseload", status_code=303)
        return page(
            request,
            "home.html",
            u,
            sections=data.sections(),
            has_report=(root / "report" / "index.html").exists(),
        )

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.get("/static/plotly.js")
    def plotly():
        return Response(
            plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "max-age=86400"},
        )

    @app.get("/static/plotly-report.js")
    def plotly_small():
        js = report_bundle()
        if js is None:
            raise HTTPException(404, "This installation has no small plotly.js bundle.")
        return Response(
            js, media_type="application/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    def plotly_src(figures: list[Any]) -> str:
        """The small plotly.js when it draws every chart of the page, else the full one."""
        types = {t.type for f in figures for t in as_figure(f).data}
        small = report_bundle()
        return (
            "/static/plotly-report.js"
            if small and report_js(types) is small
            else "/static/plotly.js"
        )

    @app.get("/section/{key}", response_class=HTMLResponse)
    def section_page(request: Request, key: str):
        u = require(request, *AGGREGATE_ROLES)
        if data.part(key) is None:
            raise HTTPException(404, f"There is no section {key!r}.")
        s = data.section(key)
        figs, figures = [], []
        for f in s.figures:
            fid = f"fig{len(figures) + 1}"
            figures.append((fid, figure_json(f.figure)))
            figs.append({"id": fid, "f": f})
        exports = [(i, t) for i, t in enumerate(s.tables)]
        return page(
            request,
            "section.html",
            u,
            v={"s": s, "figs": figs},
            figures=figures,
            plotly_src=plotly_src([f.figure for f in s.figures]),
            key=key,
            exports=exports,
            formats=list(FORMATS),
        )

    @app.get("/report", response_class=HTMLResponse)
    def full_report(request: Request):
        require(request, *AGGREGATE_ROLES)
        p = root / "report" / "index.html"
        if not p.exists():
            raise HTTPException(404, "No report yet: run `totalplace report` on this place.")
        return HTMLResponse(p.read_text(encoding="utf-8"))

    # --- exports --------------------------------------------------------------------------
    @app.get("/exports", response_class=HTMLResponse)
    def exports_page(request: Request):
        u = require(request, *AGGREGATE_ROLES)
        return page(request, "exports.html", u, tables=data.export_tables(), formats=list(FORMATS))

    @app.get("/exports/{key}/{index}.{fmt}")
    def export_file(request: Request, key: str, index: int, fmt: str):
        require(request, *AGGREGATE_ROLES)
        if data.part(key) is None or fmt not in FORMATS:
            raise HTTPException(404, "No such export.")
        tables = data.section(key).tables
        if not 0 <= index < len(tables):
            raise HTTPException(404, "No such table.")
        body = export(tables[index], fmt)
        name = f"{data.name}-{key}-{index + 1}.{fmt}".replace(" ", "_")
        return Response(
            body,
            media_type=FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # --- cohorts ---------------------------------------------------------------------------
    @app.get("/cohorts", response_class=HTMLResponse)
    def cohorts(request: Request):
        from totalplace.app import cohorts as explorer

        u = require(request, *AGGREGATE_ROLES)
        form = {k: request.query_params.get(k, "") for k in explorer.FIELDS}
        available = explorer.available()
        result, error, options = None, "", {"needs": [], "agencies": []}
        with data.open() as place:
            people_ran = place.store.last_run("people") is not None
            if available and people_ran:
                options = explorer.choices(place)
                if request.query_params.get("show"):
                    try:
                        result = explorer.explore(place, data.disclosure, form)
                    except (ValueError, TotalplaceError) as e:
                        error = str(e)
        return page(
            request,
            "cohorts.html",
            u,
            available=available,
            people_ran=people_ran,
            form=form,
            options=options,
            error=error,
            v={"s": result, "figs": []} if result else None,
        )

    # --- people ----------------------------------------------------------------------------
    @app.get("/caseload", response_class=HTMLResponse)
    def caseload(request: Request):
        u = require(request, "practitioner")
        return page(request, "caseload.html", u, people=accounts.caseload(u.username))

    @app.get("/person/{person_id}", response_class=HTMLResponse)
    def person_page(request: Request, person_id: str, purpose: str = "", note: str = ""):
        u = _user(request)
        if u.role != "practitioner":
            accounts.audit(u, "view person", "denied: role", person_id, purpose or None)
            raise HTTPException(
                403,
                "Only practitioners see person pages, and only for people on their own caseload.",
            )
        if not accounts.on_caseload(u.username, person_id):
            accounts.audit(u, "view person", "denied: not on caseload", person_id, purpose or None)
            raise HTTPException(403, "This person is not on your caseload.")
        if purpose not in PURPOSES:
            return page(request, "purpose.html", u, person_id=person_id, purposes=PURPOSES)
        with data.open():
            if not data.person_exists(person_id):
                accounts.audit(u, "view person", "not found", person_id, purpose)
                raise HTTPException(404, f"There is no person {person_id} in this place.")
            info = data.person(person_id)
        accounts.audit(u, "view person", "viewed", person_id, purpose, note[:500] or None)
        timeline = _timeline(info["events"])
        resp = page(
            request,
            "person.html",
            u,
            person_id=person_id,
            purpose=purpose,
            **info,
            figures=[("timeline", timeline)] if timeline else [],
            plotly_src=plotly_src([timeline] if timeline else []),
        )
        resp.headers["Cache-Control"] = "no-store, private"
        return resp

    # --- admin -------------------------------------------------------------------------------
    def users_view(request: Request, u, message: str, status_code: int = 200):
        """The users page (users, roles, caseloads) with a message; 400 after a bad form."""
        return page(
            request,
            "users.html",
            u,
            users=accounts.users(),
            roles=ROLES,
            caseloads=accounts.caseloads(),
            message=message,
            status_code=status_code,
        )

    @app.get("/admin/users", response_class=HTMLResponse)
    def users_page(request: Request, message: str = ""):
        return users_view(request, require(request, "admin"), message)

    @app.post("/admin/users")
    def add_user(
        request: Request,
        username: str = Form(...),
        password: str = Form(...),
        role: str = Form(...),
        csrf: str = Form(""),
    ):
        u = require(request, "admin")
        _check_csrf(request, csrf)
        try:
            accounts.add_user(username.strip(), password, role)
        except AccountError as e:
            return users_view(request, u, str(e), status_code=400)
        accounts.audit(u, "add user", "done", detail=f"{username} ({role})")
        return RedirectResponse("/admin/users?message=User+added", status_code=303)

    @app.post("/admin/users/{username}/disable")
    def disable_user(request: Request, username: str, csrf: str = Form("")):
        u = require(request, "admin")
        _check_csrf(request, csrf)
        accounts.disable(username)
        accounts.audit(u, "disable user", "done", detail=username)
        return RedirectResponse("/admin/users?message=User+disabled", status_code=303)

    @app.post("/admin/caseloads")
    def assign(
        request: Request,
        username: str = Form(...),
        person_ids: str = Form(...),
        csrf: str = Form(""),
    ):
        u = require(request, "admin")
        _check_csrf(request, csrf)
        ids = [p.strip() for p in person_ids.replace(",", " ").split() if p.strip()]
        try:
            accounts.assign(username, ids, by=u.username)
        except AccountError as e:
            return users_view(request, u, str(e), status_code=400)
        accounts.audit(u, "assign caseload", "done", detail=f"{username}: {', '.join(ids)}")
        return RedirectResponse("/admin/users?message=Caseload+updated", status_code=303)

    @app.get("/admin/audit", response_class=HTMLResponse)
    def audit_page(request: Request):
        u = require(request, "admin")
        return page(request, "audit.html", u, rows=accounts.audit_log())

    return app


def _timeline(events: list[dict[str, Any]]) -> str | None:
    """One person's contacts over time, one row per agency (a Plotly figure as JSON)."""
    if not events:
        return None
    import plotly.graph_objects as go

    agencies = sorted({e["agency_name"] for e in events})
    fig = go.Figure()
    for a in agencies:
        es = [e for e in events if e["agency_name"] == a]
        fig.add_trace(
            go.Scatter(
                x=[str(e["start_at"]) for e in es],
                y=[a] * len(es),
                mode="markers",
                name=a,
                marker={"size": 11, "line": {"width": 1, "color": "#333"}},
                text=[f"{e['activity']} ({e['service'] or ''})" for e in es],
                hovertemplate="%{x}<br>%{text}<extra></extra>",
                meta={"measure": "event"},
            )
        )
    fig.update_layout(
        title="Contacts over time, by agency",
        xaxis_title="date",
        showlegend=False,
        height=max(300, 44 * len(agencies) + 160),
    )
    return figure_json(fig)


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory``: the place named by TOTALPLACE_PLACE."""
    import os

    return create_app(os.environ["TOTALPLACE_PLACE"])


def dumps(v: Any) -> str:
    return json.dumps(v, default=str)
