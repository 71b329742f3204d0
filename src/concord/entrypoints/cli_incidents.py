"""``concord incidents``: check playbook files before they are deployed, and list what they trigger on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from concord.domain.errors import PolicyError
from concord.incidents import PlaybookLibrary, Reachability, load_default_playbooks, load_playbook_dir

__all__ = ["app"]

app = typer.Typer(help="Incidents: playbooks (standard operating procedures).", no_args_is_help=True)


@app.callback()
def _incidents() -> None:
    """Incidents: playbooks (standard operating procedures)."""


def _reachability(reach: list[str]) -> Reachability | None:
    if not reach:
        return None
    pairs: set[tuple[str, str]] = set()
    for item in reach:
        agency, sep, role = item.partition(":")
        if not sep or not agency or not role:
            raise typer.BadParameter(
                f"{item!r}: expected AGENCY:ROLE, e.g. CG:commander", param_hint="--reach"
            )
        pairs.add((agency, role))
    return frozenset(pairs)


@app.command("check-playbooks")
def check_playbooks(
    directory: Annotated[
        Path | None,
        typer.Argument(
            exists=True, file_okay=False, help="folder of *.yaml playbooks (default: the shipped ones)"
        ),
    ] = None,
    reach: Annotated[
        list[str] | None,
        typer.Option(help="AGENCY:ROLE someone holds (repeat); without it, reachability is not checked"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Validate every playbook; on error print the file, line and field, and exit with status 1."""
    reachable = _reachability(reach or [])
    # Without a directory of users, every (agency, role) counts as held: only the structure is checked.
    effective: Reachability = reachable if reachable is not None else (lambda _agency, _role: 1)
    try:
        library: PlaybookLibrary = (
            load_default_playbooks(reachable=effective)
            if directory is None
            else load_playbook_dir(directory, reachable=effective)
        )
    except PolicyError as exc:
        if as_json:
            print(json.dumps({"ok": False, "error": exc.message, "details": exc.details}))
        else:
            print(f"error: {exc.message}")
        raise typer.Exit(1) from exc
    books = library.all()
    if as_json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "reachability_checked": reachable is not None,
                    "playbooks": [
                        {
                            "id": p.id,
                            "version": p.version,
                            "source": p.source,
                            "alert_kinds": p.trigger.alert_kinds,
                            "zone_kinds": p.trigger.zone_kinds,
                            "zone_ids": p.trigger.zone_ids,
                            "min_impact": p.trigger.min_impact,
                            "tasks": [t.id for t in p.tasks],
                        }
                        for p in books
                    ],
                }
            )
        )
        return
    print(f"{len(books)} playbooks valid" + ("" if reachable is not None else " (reachability not checked)"))
    for p in books:
        where = ", ".join(p.trigger.zone_kinds + p.trigger.zone_ids) or "anywhere"
        print(
            f"  {p.id} v{p.version}: {', '.join(p.trigger.alert_kinds)} in {where}, "
            f"impact >= {p.trigger.min_impact}, {len(p.tasks)} tasks"
        )
