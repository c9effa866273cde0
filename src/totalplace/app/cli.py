"""``totalplace serve`` and ``totalplace users``: the web app and its users."""

from __future__ import annotations

from pathlib import Path

import click

from totalplace.app.accounts import ROLES, Accounts
from totalplace.cli import PLACE_DIR, console, friendly_errors


def _accounts(place_dir: Path) -> Accounts:
    from totalplace.manifest import load_manifest

    return Accounts.for_place(load_manifest(place_dir).root)


@click.command()
@PLACE_DIR
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@friendly_errors
def serve(place_dir: Path, port: int):
    """Start the web app for a place on http://127.0.0.1:PORT (this computer only).

    Analysts see the report's pages and exports; practitioners see the people on their
    own caseload; admins manage users, caseloads and read the audit log. Add a user
    first with `totalplace users add`. Stages may run on the place while the app serves
    it: the app opens the store only while a request reads it and shows each new run.

    Example:

    \b
        totalplace users add demo/anytown --username admin --role admin
        totalplace serve demo/anytown --port 8000
    """
    import uvicorn

    from totalplace.app.web import create_app

    acc = _accounts(place_dir)
    if not acc.users():
        console.print(
            "No users yet: add one first, e.g. "
            f"`totalplace users add {place_dir} --username admin --role admin`."
        )
    app = create_app(place_dir, acc)
    console.print(f"Serving {app.state.data.name} on http://127.0.0.1:{port} (Ctrl-C stops)")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@click.group()
def users():
    """Manage the web app's users (stored in PLACE/app/app.sqlite).

    Example:

    \b
        totalplace users add demo/anytown --username ada --role analyst
    """


@users.command("add")
@PLACE_DIR
@click.option("--username", required=True, help="lower-case letters, digits, '.', '_', '-'")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="at least 10 characters (asked for when not given)",
)
@friendly_errors
def users_add(place_dir: Path, username: str, role: str, password: str):
    """Add a user with a role: analyst, practitioner or admin.

    Example:

    \b
        totalplace users add demo/anytown --username ada --role analyst
    """
    u = _accounts(place_dir).add_user(username, password, role)
    console.print(f"Added {u.username} ({u.role}).")


@users.command("list")
@PLACE_DIR
@friendly_errors
def users_list(place_dir: Path):
    """List the users, their roles and whether they can sign in.

    Example:

    \b
        totalplace users list demo/anytown
    """
    acc = _accounts(place_dir)
    for u in acc.users():
        n = len(acc.caseload(u.username)) if u.role == "practitioner" else None
        extra = f", {n} on caseload" if n is not None else ""
        console.print(f"{u.username}\t{u.role}\t{'active' if u.active else 'disabled'}{extra}")


@users.command("disable")
@PLACE_DIR
@click.argument("username")
@friendly_errors
def users_disable(place_dir: Path, username: str):
    """Stop a user signing in (their audit history is kept).

    Example:

    \b
        totalplace users disable demo/anytown ada
    """
    _accounts(place_dir).disable(username)
    console.print(f"Disabled {username}.")


@users.command("caseload")
@PLACE_DIR
@click.argument("username")
@click.argument("person_ids", nargs=-1, required=True)
@friendly_errors
def users_caseload(place_dir: Path, username: str, person_ids: tuple[str, ...]):
    """Put people on a practitioner's caseload.

    Example:

    \b
        totalplace users caseload demo/anytown sam P0000004 P0000006
    """
    n = _accounts(place_dir).assign(username, list(person_ids), by="command line")
    console.print(f"{n} people on {username}'s caseload.")
