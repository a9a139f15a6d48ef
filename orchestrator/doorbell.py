"""A doorbell: one part of a process tells a polling loop of the same process that there is
work to look at, so that the loop need not poll often to find it in time."""

from __future__ import annotations

import asyncio


class Doorbell:
    """Rung by the part of a process that adds work a polling loop of the same process handles
    (a timer, a deferred send), so that the loop need not poll often to find it in time. Work
    added by other processes is found at the loop's longest idle wait; their own loops ring
    for it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        """Wake the loop that waits (now or at its next wait)."""
        self._event.set()

    def clear(self) -> None:
        """Forget earlier rings (the loop is about to look anyway)."""
        self._event.clear()

    async def wait(self) -> None:
        """Until rung."""
        await self._event.wait()
