"""Minor units and conversion to US cents (rules §4.3): convert each item, round half-even to the cent."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal

# Stripe's zero- and three-decimal currencies; every other currency has two decimals.
_ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
_THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def decimals(currency: str) -> int:
    """Number of decimals of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    code = currency.lower()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """A major-unit amount (e.g. 4200.00) in minor units; raises ValueError past the currency's decimals."""
    scaled = amount * (10 ** decimals(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency.upper()} allows ({decimals(currency)})")
    return int(scaled)


def usd_cents(
    amount: int, currency: str, *, table: Mapping[str, Decimal], stripe_rate: Decimal | None = None
) -> int | None:
    """The item's amount in US cents: the settings table first, else Stripe's rate; None when no rate."""
    code = currency.upper()
    if code == "USD":
        return amount
    rate = table.get(code, stripe_rate)
    if rate is None:
        return None
    usd = Decimal(amount) / (10 ** decimals(code)) * rate * 100
    return int(usd.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
