"""``concord audit``: verify the audit log, print signed heads and inclusion and consistency proofs.

The commands only read: they need the store and the log's public key, never the signing key. The
application wires how to open them by passing ``open_log`` to :func:`build_app`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from concord.audit import (
    AuditStore,
    SignedTreeHead,
    key_id,
    prove_consistency,
    prove_inclusion,
    public_key_pem,
    rebuild_subtree_cache,
    tree_root,
    verify,
    verify_sth,
)
from concord.domain.errors import ConcordError, InvalidInput

__all__ = ["OpenLog", "build_app"]

OpenLog = Callable[[], tuple[AuditStore, Ed25519PublicKey]]
"""Returns the audit store to read and the public key its heads must be signed with."""

EXIT_TAMPERED = 1
EXIT_ERROR = 2


def _echo_json(value: dict[str, Any]) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


def _fail(exc: ConcordError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(EXIT_ERROR)


def _load_head(path: Path) -> SignedTreeHead:
    try:
        data = json.loads(path.read_bytes()[:65_536])
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable JSON head ({exc})", details={"file": str(path)}) from exc
    return SignedTreeHead.from_dict(data)


def build_app(open_log: OpenLog) -> typer.Typer:
    """Build the ``audit`` command group around ``open_log``."""
    app = typer.Typer(help="Verify the tamper-evident audit log and print proofs.", no_args_is_help=True)
    proof_app = typer.Typer(help="Print inclusion and consistency proofs as JSON.", no_args_is_help=True)
    app.add_typer(proof_app, name="proof")

    @app.command("verify")
    def verify_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        known_head: Annotated[
            list[Path] | None,
            typer.Option(
                "--known-head",
                exists=True,
                dir_okay=False,
                help="A head saved earlier (JSON from `head`); repeatable. The log must still match it.",
            ),
        ] = None,
    ) -> None:
        """Recompute every entry, subtree and root and check every signed head.

        Exits 0 if the log is intact, 1 naming the first bad entry, head or signature, 2 on error.
        """
        try:
            kept = [_load_head(path) for path in known_head or []]
            store, public_key = open_log()
        except ConcordError as exc:
            raise _fail(exc) from exc
        console = Console(stderr=True)
        progress = Progress(
            TextColumn("verifying audit log"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or as_json,
            transient=True,
        )
        try:
            with progress:
                task = progress.add_task("verify", total=None)

                def report_progress(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                report = verify(store, public_key, known_heads=kept, progress=report_progress)
        except ConcordError as exc:
            raise _fail(exc) from exc
        if as_json:
            _echo_json(report.to_dict())
        elif report.ok:
            root = report.root_hash.hex() if report.root_hash is not None else "-"
            typer.echo(
                f"OK: {report.entries_checked} entries, {report.heads_checked} signed heads, "
                f"{report.nodes_checked} cached subtrees verified; root {root}"
            )
            if report.unsigned_entries:
                typer.echo(f"note: {report.unsigned_entries} entries are not yet covered by a signed head")
        if not report.ok and report.problem is not None:
            problem = report.problem
            if problem.seq is not None and problem.code.startswith("entry-"):
                where = f"first bad entry: seq {problem.seq}"
            elif problem.tree_size is not None and problem.code.startswith("head-signature"):
                where = f"first bad signature: head at tree size {problem.tree_size}"
            elif problem.tree_size is not None:
                where = f"first bad head: tree size {problem.tree_size}"
            else:
                where = f"first bad cached subtree: height {problem.level}, index {problem.index}"
            typer.echo(f"TAMPERED: {where} [{problem.code}] {problem.message}", err=True)
            raise typer.Exit(EXIT_TAMPERED)

    @app.command("head")
    def head_command(
        size: Annotated[
            int | None, typer.Option("--size", min=0, help="Tree size (default: latest).")
        ] = None,
    ) -> None:
        """Print a signed tree head as JSON, with whether its signature checks out."""
        try:
            store, public_key = open_log()
            head = store.latest_head() if size is None else store.get_head(size)
        except ConcordError as exc:
            raise _fail(exc) from exc
        if head is None:
            typer.echo("error: no signed tree head" + ("" if size is None else f" for size {size}"), err=True)
            raise typer.Exit(EXIT_ERROR)
        data = head.to_dict()
        data["signature_valid"] = verify_sth(head, public_key)
        data["expected_key_id"] = key_id(public_key)
        _echo_json(data)
        if not data["signature_valid"]:
            raise typer.Exit(EXIT_TAMPERED)

    @app.command("public-key")
    def public_key_command() -> None:
        """Print the log's public key (PEM) and its key id, to hand to auditors."""
        try:
            _, public_key = open_log()
        except ConcordError as exc:
            raise _fail(exc) from exc
        typer.echo(public_key_pem(public_key).decode("ascii"), nl=False)
        typer.echo(f"key id: {key_id(public_key)}", err=True)

    @app.command("rebuild-cache")
    def rebuild_cache_command() -> None:
        """Recompute missing cached subtree hashes from the entries (after a restore without them)."""
        try:
            store, _ = open_log()
            added = rebuild_subtree_cache(store)
        except ConcordError as exc:
            raise _fail(exc) from exc
        typer.echo(f"added {added} cached subtree hashes")

    @proof_app.command("inclusion")
    def inclusion_command(
        seq: Annotated[int, typer.Argument(min=0, help="Sequence number of the entry.")],
        size: Annotated[
            int | None, typer.Option("--size", min=1, help="Tree size (default: latest signed head).")
        ] = None,
    ) -> None:
        """Print the proof that entry SEQ is in the tree of the given size, and check it."""
        try:
            store, public_key = open_log()
            proof = prove_inclusion(store, seq, size)
            head = store.get_head(proof.tree_size)
            root = head.root_hash if head is not None else tree_root(store, proof.tree_size)
            entry = store.read_entries(seq, seq + 1)
        except ConcordError as exc:
            raise _fail(exc) from exc
        data: dict[str, Any] = {"proof": proof.to_dict(), "root_hash": root.hex()}
        data["head"] = head.to_dict() if head is not None else None
        data["head_signature_valid"] = verify_sth(head, public_key) if head is not None else None
        data["entry_json"] = entry[0].entry_json.decode("utf-8", "replace") if entry else None
        data["verified"] = proof.verify(root)
        _echo_json(data)
        if not data["verified"] or data["head_signature_valid"] is False:
            raise typer.Exit(EXIT_TAMPERED)

    @proof_app.command("consistency")
    def consistency_command(
        old: Annotated[int, typer.Argument(min=0, help="The earlier tree size.")],
        new: Annotated[int, typer.Argument(min=0, help="The later tree size.")],
    ) -> None:
        """Print the proof that the tree of size OLD is a prefix of the tree of size NEW, and check it."""
        try:
            store, public_key = open_log()
            proof = prove_consistency(store, old, new)
            old_head, new_head = store.get_head(old), store.get_head(new)
            old_root = old_head.root_hash if old_head is not None else tree_root(store, old)
            new_root = new_head.root_hash if new_head is not None else tree_root(store, new)
        except ConcordError as exc:
            raise _fail(exc) from exc
        heads_valid = [verify_sth(h, public_key) for h in (old_head, new_head) if h is not None]
        data: dict[str, Any] = {
            "proof": proof.to_dict(),
            "old_root_hash": old_root.hex(),
            "new_root_hash": new_root.hex(),
            "old_head": old_head.to_dict() if old_head is not None else None,
            "new_head": new_head.to_dict() if new_head is not None else None,
            "head_signatures_valid": all(heads_valid),
            "verified": proof.verify(old_root, new_root),
        }
        _echo_json(data)
        if not data["verified"] or not data["head_signatures_valid"]:
            raise typer.Exit(EXIT_TAMPERED)

    return app
