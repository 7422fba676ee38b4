"""Plain data for the stock-check tests (the fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any


def offer(
    set_name: str = "Masters 25",
    set_code: str = "a25",
    number: str = "208",
    *,
    price: str = "1.00",
    quantity: int = 1,
    **more: Any,
) -> dict[str, Any]:
    return {
        "set_name": set_name,
        "set_code": set_code,
        "collector_number": number,
        "price": price,
        "quantity": quantity,
        **more,
    }
