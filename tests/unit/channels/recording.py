"""A WebhookContext for provider route tests: it keeps what the routes hand it.

The broker always acknowledges, unless ``fail_after`` is set: then the publish after that many
acknowledged ones raises the 503 (with ``Retry-After``) the real context raises when the broker
does not answer in time.
"""

from __future__ import annotations

from fastapi import HTTPException

from channels.webhooks import InboundMessage, StatusReport


class RecordingContext:
    """Counts, inbound messages and status reports, in the order the routes gave them."""

    public_url = "http://api.test"

    def __init__(self) -> None:
        self.counts: list[tuple[str, str]] = []
        self.inbound: list[InboundMessage] = []
        self.reports: list[StatusReport] = []
        self.fail_after: int | None = None

    def _publish(self) -> None:
        if self.fail_after is not None and len(self.inbound) + len(self.reports) >= self.fail_after:
            raise HTTPException(503, "broker down", headers={"Retry-After": "1"})

    def count(self, route: str, outcome: str) -> None:
        self.counts.append((route, outcome))

    async def received(self, route: str, msg: InboundMessage) -> None:
        self._publish()
        self.inbound.append(msg)

    async def status(self, route: str, report: StatusReport) -> None:
        self._publish()
        self.reports.append(report)
