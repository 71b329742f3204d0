"""Messaging: the caller's channels, agency-to-agency channels, posting with mentions, read receipts.

A channel the caller's agency is not a member of answers 404 (the JOC reads every channel). Each
message is released on its own marking: members of one channel may see different messages of it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from concord.bootstrap import Concord
from concord.domain.errors import NotFound
from concord.domain.identity import User
from concord.entrypoints.api.deps import ConcordDep, CurrentUser
from concord.entrypoints.api.routes._coordination import AgencyCode, MarkingIn, Strict, public, release_row
from concord.incidents.commands import MarkRead, OpenAgencyChannel, PostMessage

router = APIRouter(prefix="/api/channels", tags=["messages"])


class AgencyChannelBody(Strict):
    partner: AgencyCode
    marking: MarkingIn | None = None


class PostBody(Strict):
    body: Annotated[str, Field(min_length=1, max_length=4000)]
    marking: MarkingIn
    message_id: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[A-Za-z0-9._:-]{8,64}$",
            description="an id of the client's choosing: sending the same post again answers 409, "
            "so a post whose answer was lost can be retried safely",
        ),
    ] = None


def _channel(concord: Concord, channel_id: str, user: User) -> dict[str, Any]:
    concord.coordination.channel_for(channel_id, user)
    try:
        row = concord.coordination.row("channel", channel_id)
        return public(release_row(concord, row, user.viewer()))
    except NotFound:
        raise NotFound(f"no channel {channel_id!r}", details={"channel_id": channel_id}) from None


@router.get("")
def list_channels(concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    viewer = user.viewer()
    rows = []
    for channel in concord.coordination.channels_for(user):
        try:
            rows.append(concord.coordination.row("channel", channel.id))
        except NotFound:
            continue
    visible = [public(r) for r in concord.queries.release_rows(rows, viewer)]
    visible += [public(r) for r in concord.queries.release_rows(rows, viewer, exercise=True)]
    return {"data": visible, "count": len(visible)}


@router.post("/agency", status_code=201)
def open_agency_channel(body: AgencyChannelBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    command = OpenAgencyChannel(
        partner=body.partner, marking=body.marking.for_user(user) if body.marking else None
    )
    channel_id = concord.coordination.open_agency_channel(command, user)
    return _channel(concord, channel_id, user)


@router.get("/{channel_id}")
def get_channel(channel_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _channel(concord, channel_id, user)


@router.get("/{channel_id}/messages")
def list_messages(
    channel_id: str,
    concord: ConcordDep,
    user: CurrentUser,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The channel's messages this caller may see, oldest first, each released on its own marking."""
    channel = concord.coordination.channel_for(channel_id, user)
    rows = concord.coordination.message_rows(channel_id)
    visible = concord.queries.release_rows(rows, user.viewer(), exercise=channel.exercise)
    return {"data": [public(r) for r in visible[offset : offset + limit]], "count": len(visible)}


@router.post("/{channel_id}/messages", status_code=201)
def post_message(channel_id: str, body: PostBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    concord.coordination.channel_for(channel_id, user)
    command = PostMessage(
        channel_id=channel_id, body=body.body, marking=body.marking.for_user(user), message_id=body.message_id
    )
    message_id = concord.coordination.post_message(command, user)
    return public(release_row(concord, concord.coordination.row("message", message_id), user.viewer()))


@router.post("/{channel_id}/messages/{message_id}/read")
def mark_read(channel_id: str, message_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    concord.coordination.channel_for(channel_id, user)
    try:
        row = concord.coordination.row("message", message_id)
    except NotFound:
        raise NotFound("no such message", details={"message_id": message_id}) from None
    if row.data.get("channel_id") != channel_id:
        raise NotFound("no such message", details={"message_id": message_id})
    release_row(concord, row, user.viewer())  # a message one may not see cannot be read
    recorded = concord.coordination.mark_read(MarkRead(channel_id=channel_id, message_id=message_id), user)
    return {"recorded": recorded}
