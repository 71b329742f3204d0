"""Messaging: channels per incident, per task force, between agencies and for liaison officers.

Every message carries its own marking, originated by the author's agency; what a viewer sees of a
channel is decided message by message by the release gate, never here. Mentions (``@username``) are
parsed when the message is posted and kept with it; read receipts are :class:`MessageRead` events,
recorded once per user and message.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from concord.domain.coordination import (
    Channel,
    ChannelKind,
    ChannelOpened,
    CoordinationState,
    MessagePosted,
    MessageRead,
    agency_channel_id,
)
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.identity import Role, User
from concord.domain.incident import JOC
from concord.domain.incident_codec import CoordinationEvent
from concord.domain.marking import Marking
from concord.domain.ports import Clock
from concord.incidents.base import require_role
from concord.incidents.commands import MarkRead, OpenAgencyChannel, PostMessage

__all__ = ["MAX_MESSAGE_CHARS", "MAX_MENTIONS", "MessagingService", "parse_mentions"]

MAX_MESSAGE_CHARS = 4000
MAX_MENTIONS = 50

# A mention starts at the beginning or after a character that cannot be part of a name or an e-mail
# address, so "ops@cg.example" is not a mention of "cg.example".
_MENTION = re.compile(r"(?<![\w@.+-])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})")


def parse_mentions(body: str) -> tuple[str, ...]:
    """The usernames mentioned in ``body``, in order of first mention, without duplicates."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(body):
        # A sentence may end right after a name: "@alice." mentions alice.
        name = match.group(1).rstrip("._-")
        if name:
            found.setdefault(name, None)
        if len(found) >= MAX_MENTIONS:
            break
    return tuple(found)


class MessagingService:
    """Decides channel and message commands against the folded coordination state."""

    def __init__(
        self,
        *,
        clock: Clock,
        new_id: Callable[[], str],
        user_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self._clock = clock
        self._new_id = new_id
        self._user_exists = user_exists

    def _channel(self, state: CoordinationState, channel_id: str, user: User) -> Channel:
        channel = state.channels.get(channel_id)
        # A channel the user's agency is not in does not exist for that user.
        if channel is None or (user.agency not in channel.agencies and user.agency != JOC):
            raise NotFound(f"no channel {channel_id!r}", details={"channel_id": channel_id})
        return channel

    def open_agency_channel(
        self, state: CoordinationState, command: OpenAgencyChannel, user: User
    ) -> list[CoordinationEvent]:
        """Open the channel between the user's agency and a partner agency (once)."""
        require_role(user, [Role.OPERATOR, Role.COMMANDER, Role.LIAISON], action="open an agency channel")
        partner = command.partner
        if not partner or partner == user.agency or len(partner) > 32:
            raise InvalidInput("partner must be another agency's code", details={"field": "partner"})
        channel_id = agency_channel_id(user.agency, partner)
        if channel_id in state.channels:
            raise Conflict(f"channel {channel_id} is already open", details={"channel_id": channel_id})
        marking = command.marking or Marking(
            classification="RESTRICTED", originator=user.agency, rel_to=frozenset({partner})
        )
        if marking.originator != user.agency:
            raise InvalidInput(
                "the channel's marking must originate from your agency", details={"field": "marking"}
            )
        return [
            ChannelOpened(
                at=self._clock.now(),
                actor=user.id,
                channel_id=channel_id,
                kind=ChannelKind.AGENCY,
                name=f"{min(user.agency, partner)} - {max(user.agency, partner)}",
                agencies=tuple(sorted({user.agency, partner})),
                marking=marking,
            )
        ]

    def post(self, state: CoordinationState, command: PostMessage, user: User) -> list[CoordinationEvent]:
        """Post a message; its marking must originate from the author's agency."""
        require_role(
            user, [Role.OPERATOR, Role.ANALYST, Role.COMMANDER, Role.LIAISON], action="post a message"
        )
        channel = self._channel(state, command.channel_id, user)
        if user.agency not in channel.agencies:
            raise NotAuthorized(
                f"{user.agency} is not a member of channel {channel.id}", details={"channel_id": channel.id}
            )
        body = command.body
        if not isinstance(body, str) or not body.strip():
            raise InvalidInput("a message needs a body", details={"field": "body"})
        if len(body) > MAX_MESSAGE_CHARS:
            raise InvalidInput(
                f"a message is at most {MAX_MESSAGE_CHARS} characters", details={"field": "body"}
            )
        if any((ord(c) < 32 and c not in "\n\t") or c == "\x7f" for c in body):
            raise InvalidInput("a message may not contain control characters", details={"field": "body"})
        if not isinstance(command.marking, Marking) or command.marking.originator != user.agency:
            raise InvalidInput(
                "a message's marking must originate from the author's agency", details={"field": "marking"}
            )
        message_id = command.message_id or self._new_id()
        if command.message_id is not None and any(
            m.id == message_id for c in state.channels.values() for m in c.messages
        ):
            raise Conflict(f"message {message_id} was posted already", details={"message_id": message_id})
        mentions = parse_mentions(body)
        if self._user_exists is not None:
            mentions = tuple(m for m in mentions if self._user_exists(m))
        return [
            MessagePosted(
                at=self._clock.now(),
                actor=user.id,
                channel_id=channel.id,
                message_id=message_id,
                author_username=user.username,
                author_agency=user.agency,
                body=body.strip(),
                marking=command.marking,
                mentions=mentions,
                exercise=channel.exercise,
            )
        ]

    def mark_read(self, state: CoordinationState, command: MarkRead, user: User) -> list[CoordinationEvent]:
        """A read receipt; reading again, or reading one's own message, records nothing."""
        channel = self._channel(state, command.channel_id, user)
        message = next((m for m in channel.messages if m.id == command.message_id), None)
        if message is None:
            raise NotFound(
                f"no message {command.message_id!r} in {channel.id}",
                details={"message_id": command.message_id},
            )
        if message.author_id == user.id or user.id in channel.reads.get(message.id, {}):
            return []
        return [
            MessageRead(
                at=self._clock.now(),
                actor=user.id,
                channel_id=channel.id,
                message_id=message.id,
                user_id=user.id,
            )
        ]
