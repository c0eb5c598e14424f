"""Who is on the stage: each speaker backstage, live, on their backup recording or off, in
running order, and the session's status; versioned with the session, in Redis. Every change
logs the whole stage in the session's feed (lineup.lua), which is how the faces learn of it."""

from __future__ import annotations

from server.domain.stage import MAX_LIVE
from server.errors import Conflict
from server.store import keys, scripts
from server.store.connection import Client


class LineupStore:
    """Speakers arrive backstage; only moderators move them."""

    def __init__(self, client: Client) -> None:
        self.r = client
        self._script = scripts.load(client, "lineup")

    async def _run(
        self, session_id: str, op: str, speaker: str = "", value: str = "", *, member: str = "",
        backup: str = "", lang: str = "", extra: tuple[str, ...] = (),
    ) -> tuple[bool, int]:  # fmt: skip
        changed, second = await self._script(
            keys=[keys.session(session_id), keys.log(session_id), *keys.stage_keys(session_id)],
            args=[op, speaker, value, MAX_LIVE, member, backup, lang, *extra],
        )
        if int(changed) < 0:
            raise Conflict(str(second))
        return bool(int(changed)), int(second)

    async def arrive(
        self, session_id: str, speaker: str, label: str, member: str, *, backup: str = "", lang: str = ""
    ) -> tuple[bool, int]:
        """A speaker entered: backstage if new, their place kept if they come back. `backup`
        is their invite's backup recording (the session keeps the one it has, if any); `lang`
        the language of their studio ("" if it did not say), which interpreters translate into.

        Either way the log now shows them connected (in the stage, or in a note of who is):
        the session's pending note of who is connected would only repeat it, and is dropped."""
        changed, version = await self._run(
            session_id, "arrive", speaker, label, member=member, backup=backup, lang=lang
        )
        await self.r.delete(keys.online_dirty(session_id))
        return changed, version

    async def set_state(self, session_id: str, speaker: str, state: str) -> tuple[bool, int]:
        """Move a speaker; at most MAX_LIVE live (or on their backup) at once."""
        return await self._run(session_id, "set", speaker, state)

    async def set_status(self, session_id: str, status: str) -> tuple[bool, int]:
        """The session is scheduled, live or ended."""
        return await self._run(session_id, "status", value=status)

    async def reorder(self, session_id: str, speakers: list[str]) -> tuple[bool, int]:
        """Set the running order: every speaker of the lineup, each once."""
        return await self._run(session_id, "order", extra=tuple(speakers))

    async def touch(self, session_id: str, speaker: str, backup: str) -> int:
        """A speaker's backup recording changed ("" for none): the session keeps it, and its
        stage is logged again if they are in the lineup; the version, 0 if the session is gone."""
        try:
            return (await self._run(session_id, "touch", speaker, backup))[1]
        except Conflict:
            return 0

    async def state_of(self, session_id: str, speaker: str) -> str | None:
        """One speaker's state, or None if they never arrived."""
        value = await self.r.hget(keys.lineup(session_id), speaker)
        return str(value) if value else None
