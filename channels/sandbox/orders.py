"""A pretend order system, so that flows' ``call`` steps have something real to call locally.

``GET /_sandbox/api/orders/{order_id}`` answers for any order number of 4 to 12 digits not
starting with 0; the last digit decides the status, so demos and tests are predictable:

=========  ============
last digit status
=========  ============
0-3        shipped
4-5        processing
6-7        delivered
8          delayed
9          (slow: answers after ``slow_s`` seconds, to exercise call timeouts)
=========  ============

Anything else is 404, like a real API for an unknown order.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException

_ORDER = re.compile(r"^[1-9]\d{3,11}$")
_STATUS = {
    **dict.fromkeys("0123", "shipped"),
    **dict.fromkeys("45", "processing"),
    **dict.fromkeys("67", "delivered"),
    "8": "delayed",
    "9": "shipped",
}
_CARRIERS = ("UPS", "DHL", "Royal Mail", "FedEx")


def orders_router(slow_s: float = 15.0, today: date | None = None) -> APIRouter:
    """The pretend order API."""
    router = APIRouter(prefix="/_sandbox/api")

    @router.get("/orders/{order_id}")
    async def order(order_id: str) -> dict[str, Any]:
        if not _ORDER.match(order_id):
            raise HTTPException(404, f"no order {order_id}")
        if order_id.endswith("9"):
            await asyncio.sleep(slow_s)  # a slow backend, on purpose
        status = _STATUS[order_id[-1]]
        base = today or date.today()  # noqa: DTZ011 - a pretend API's notion of today
        eta = base + timedelta(days=int(order_id[-2]) % 5 + 1)
        return {
            "order_id": order_id,
            "status": status,
            "eta": eta.isoformat(),
            "carrier": _CARRIERS[int(order_id[-3]) % len(_CARRIERS)],
        }

    return router
