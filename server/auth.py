"""Turning credentials (invite tokens, participant cookies) into Principals, and minting them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from server.domain import identity as idn
from server.domain.identity import Principal
from server.errors import Invalid, NotFound, Unauthorized
from server.store.identity import ROOT_EVENT, IdentityStore, Invite

INVITE = "invite"
PARTICIPANT = "participant"
PARTICIPANT_COOKIE = "podium_pid"
ORGANIZER_COOKIE = "podium_org"
# Invite and participant ids: 128 random bits (THREAT_MODEL.md), 22 URL-safe characters.
ID_BYTES = 16


def now() -> int:
    """Unix seconds."""
    return int(time.time())


class Auth:
    """Signs and checks every credential; the invite record in Redis makes links revocable."""

    def __init__(self, store: IdentityStore, secret: str, fixed_organizer_token: str = "") -> None:
        self.store = store
        self.secret = secret
        self.fixed_organizer_token = fixed_organizer_token

    # --- invites -------------------------------------------------------------------

    async def create_invite(
        self,
        role: str,
        event_id: str,
        session_id: str,
        label: str,
        hours: float,
    ) -> tuple[Invite, str]:
        """A new invite and its token (shown once; only the invite record is kept)."""
        if role not in idn.INVITE_ROLES:
            raise Invalid(f"role must be one of: {', '.join(idn.INVITE_ROLES)}.", field="role")
        issued = now()
        invite = Invite(
            id=secrets.token_urlsafe(ID_BYTES),
            role=role,
            event_id=event_id,
            session_id=session_id,
            label=label,
            created_at=issued,
            expires_at=issued + int(hours * 3600),
            revoked=False,
        )
        await self.store.create_invite(invite)
        token = idn.sign(
            {"i": invite.id, "r": role, "e": event_id, "s": session_id, "x": invite.expires_at},
            self.secret,
            INVITE,
        )
        return invite, token

    async def invite_principal(self, token: Any, person: str | None = None) -> Principal:
        """The holder of an invite token, checked for signature, expiry and revocation."""
        if (
            self.fixed_organizer_token
            and isinstance(token, str)
            and token.isascii()  # a lone surrogate would not even encode
            and hmac.compare_digest(token.encode(), self.fixed_organizer_token.encode())
        ):
            return Principal(role=idn.ORGANIZER, person=person or "organizer")
        claims = idn.verify(token, self.secret, INVITE, now())
        try:
            invite = await self.store.get_invite(str(claims.get("i")))
        except NotFound:
            raise Unauthorized("This link is no longer valid.") from None
        if invite.revoked:
            raise Unauthorized("This link was revoked by the organizer.")
        if (invite.role, invite.event_id, invite.session_id) != (
            claims.get("r"),
            claims.get("e"),
            claims.get("s"),
        ):
            raise Unauthorized("This link is not valid.")
        return Principal(
            role=invite.role,
            person=person or f"i:{invite.id}",
            event_id=invite.event_id or None,
            session_id=invite.session_id or None,
            invite_id=invite.id,
            participant_id=person,
        )

    async def root_organizer_link_token(self, hours: float) -> str:
        """A fresh start-up organizer token (printed by `podium serve`)."""
        _, token = await self.create_invite(idn.ORGANIZER, ROOT_EVENT, "", "start-up link", hours)
        return token

    # --- participants --------------------------------------------------------------

    def participant_token(self, participant_id: str, days: float) -> str:
        """A signed participant credential, for the cookie or a client's auth."""
        return idn.sign({"p": participant_id, "x": now() + int(days * 86400)}, self.secret, PARTICIPANT)

    def participant_id(self, token: Any) -> str:
        """The participant id inside a signed participant credential."""
        claims = idn.verify(token, self.secret, PARTICIPANT, now())
        pid = claims.get("p")
        if not isinstance(pid, str) or not pid:
            raise Unauthorized("This link is not valid.")
        return pid

    def participant_or_none(self, token: Any) -> str | None:
        """Like participant_id(), but None for a missing or bad credential."""
        if not token:
            return None
        try:
            return self.participant_id(token)
        except Unauthorized:
            return None

    def participant_half_spent(self, token: Any, days: float) -> bool:
        """True when a valid participant credential has less than half its life left."""
        try:
            claims = idn.verify(token, self.secret, PARTICIPANT, now())
        except Unauthorized:
            return False
        return int(claims["x"]) - now() < days * 86400 / 2

    @staticmethod
    def new_participant_id() -> str:
        """A fresh anonymous participant id."""
        return secrets.token_urlsafe(ID_BYTES)

    async def principal(self, invite_token: Any, participant_token: Any) -> Principal:
        """Whoever a socket or request says it is: an invite holder, else an audience member."""
        pid = self.participant_or_none(participant_token)
        if invite_token:
            return await self.invite_principal(invite_token, person=pid)
        if pid is None:
            raise Unauthorized("Open the event's link or enter its code first.")
        return Principal(role=idn.AUDIENCE, person=pid, participant_id=pid)


def address_hash(secret: str, address: str) -> str:
    """A keyed hash of a network address: comparable for bans, useless to anyone reading Redis."""
    return hmac.new(secret.encode(), f"addr:{address}".encode(), hashlib.sha256).hexdigest()[:32]
