"""Query parameters of the market desk, validated in one place for the pages and the JSON API.

Every form here reads a GET query. Its field names are the URL's parameter names, so an error
names exactly the parameter to fix ("min_margin: enter a number, got 'abc'"), and
``first_error()`` gives the API its ``{"error": …, "parameter": …}``. Numbers are read as
traders write them: ``1,500,000`` or ``1.5m`` for amounts, ``0.036`` or ``3.6%`` for rates.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.fees import FeeRates
from accounts.models import DEFAULT_EXCLUDED_CATEGORY_IDS, TradingProfile
from market.models import Category, MarketGroup
from market.queries import (
    BOOK_SORTS,
    HUB_HAULING_COLUMNS,
    StationRef,
    TradingFilters,
    region_known,
    station_get,
)
from market.routes import ROUTES
from market.structures.models import FIRST_STRUCTURE_ID, Structure
from market.structures.queries import location_get
from market.trading import DEFAULT_MARKET_SHARE, HAUL_MODES, STATION_TRADING_COLUMNS

HISTORY_WINDOWS = (30, 90, 365)
MAX_HISTORY_DAYS = 730
MAX_PAGE_SIZE = 1000
MAX_STATION_VOLUME_DAYS = 35  # what the ingest keeps (market.ingest.liquidity.KEEP_DAYS)
# ISK amounts and counts beyond these are typing accidents (the whole EVE economy is ~1e15 ISK).
MAX_ISK = Decimal("1e15")


def _sort_choices(columns: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(c, c) for c in columns] + [(f"-{c}", f"-{c}") for c in columns]


class QueryForm(forms.Form):
    """A form over a query string; blank parameters count as absent. ``user`` is who asks: a
    location parameter (``StationField``) takes the tracked structures that user may see."""

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        if data is not None:
            data = {key: value for key, value in data.items() if str(value).strip() != ""}
        super().__init__(data, **kwargs)
        self.user = user
        for field in self.fields.values():
            if isinstance(field, StationField):
                field.user = user

    def hidden_location(self) -> tuple[str, str] | None:
        """(parameter, message) of a location parameter naming a structure the user may not
        see (someone else's private one, or none tracked at all): the pages and the API answer
        404 for it, the same for both, so a private structure's existence does not show."""
        for name in self.fields:
            if self.has_error(name, code=StationField.HIDDEN):
                return name, f"{name}: {self.errors[name][0]}"
        return None

    def first_error(self) -> tuple[str, str]:
        """(parameter, message) of the first invalid parameter, in the form's field order."""
        for name in self.fields:
            if name in self.errors:
                return name, f"{name}: {self.errors[name][0]}"
        message = self.non_field_errors()[0] if self.non_field_errors() else "invalid query"
        return "", message

    def get(self, name: str, default: Any = None) -> Any:
        value = self.cleaned_data.get(name)
        return default if value is None or value == "" else value


def _given(value: Any) -> str:
    return f", got {str(value)[:40]!r}" if value not in (None, "") else ""


def _number(value: Decimal) -> str:
    """1E+9 as 1,000,000,000 (what a trader typed as 1b), but never a thousand digits."""
    if value.is_finite() and -20 < value.adjusted() < 20:
        return f"{value.normalize():,f}"
    return str(value)[:40]


class _QuickCopy:
    """A query field each form copies quickly. Every form copies its fields (Django's
    ``deepcopy`` of them), and a query form of a JSON answer has a dozen: through the generic
    copy protocol, with the choices copied and re-normalized (ChoiceField and its widget),
    that cost each answer 0.5 ms of CPU. This copy gives the form what Django's does (its own
    field, widget, widget attributes, error messages and validators) and shares the rest, the
    choices included: a query's choices are constants (sort columns, modes), never changed in
    place."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        result = _shallow(self)
        memo[id(self)] = result
        result.widget = _shallow(self.widget)
        result.widget.attrs = self.widget.attrs.copy()
        result.error_messages = self.error_messages.copy()
        result.validators = self.validators[:]
        return result


def _shallow(thing: Any) -> Any:
    copied = object.__new__(type(thing))
    copied.__dict__.update(thing.__dict__)
    return copied


class _ExplainedErrors:
    """Field errors that say what was wrong and what came in, instead of Django's generic ones:
    ``unreadable(value)`` when the text is no value at all, ``out_of_bounds(value)`` when a
    validator refuses it."""

    def unreadable(self, value: Any) -> str:
        return f"not a value this parameter takes{_given(value)}"

    def out_of_bounds(self, value: Any) -> str:
        return f"out of range{_given(value)}"

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(self.unreadable(value)) from None

    def run_validators(self, value: Any) -> None:
        try:
            super().run_validators(value)
        except ValidationError:
            raise ValidationError(self.out_of_bounds(value)) from None


# How traders write amounts: 1.5b ISK, 500m, 60k m3.
AMOUNT_SUFFIXES = {"k": 3, "m": 6, "b": 9, "t": 12}


class NumberField(_QuickCopy, _ExplainedErrors, forms.DecimalField):
    """A Decimal, written as traders write it: thousands separators (``1,000,000`` or
    ``1 000 000``) and, with ``amounts``, a suffix (``1.5b``, ``500m``, ``60k``); with ``percent``,
    a trailing ``%`` makes a fraction (``5%`` is 0.05)."""

    def __init__(
        self,
        *,
        minimum: Decimal | None = None,
        below: Decimal | None = None,
        amounts: bool = False,
        percent: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_digits", 24)
        kwargs.setdefault("decimal_places", 8)
        super().__init__(**kwargs)
        self.minimum = minimum
        self.below = below
        self.amounts = amounts
        self.percent = percent

    def unreadable(self, value: Any) -> str:
        return f"enter a number{_given(value)}"

    def out_of_bounds(self, value: Any) -> str:
        return f"has too many digits{_given(value)}"

    def to_python(self, value: Any) -> Decimal | None:
        if isinstance(value, str):
            value = self._read(value)
        return super().to_python(value)

    def _read(self, text: str) -> str | Decimal:
        compact = "".join(text.split()).replace(",", "").replace("_", "")
        scale = 0
        if self.amounts and compact[-1:].lower() in AMOUNT_SUFFIXES:
            scale = AMOUNT_SUFFIXES[compact[-1].lower()]
        elif self.percent and compact.endswith("%"):
            scale = -2
        if not scale:
            return compact
        try:
            number = Decimal(compact[:-1])
        except InvalidOperation:
            raise ValidationError(self.unreadable(text)) from None
        try:
            return number.scaleb(scale)
        except ArithmeticError:
            # ``1e999999k`` reads, but its thousands overflow Decimal's exponent.
            raise ValidationError(self.beyond_range(text, negative=number < 0)) from None

    def beyond_range(self, value: Any, *, negative: bool) -> str:
        if negative and self.minimum is not None:
            return f"must be at least {self.minimum}{_given(value)}"
        if not negative and self.below is not None:
            return f"must be below {_number(self.below)}{_given(value)}"
        return f"is out of range{_given(value)}"

    def validate(self, value: Any) -> None:
        if value is None:
            return super().validate(value)
        if not value.is_finite():
            raise ValidationError(f"enter a finite number, got {value}")
        if self.minimum is not None and value < self.minimum:
            raise ValidationError(f"must be at least {self.minimum}, got {_number(value)}")
        if self.below is not None and value >= self.below:
            raise ValidationError(f"must be below {_number(self.below)}, got {_number(value)}")


class RateField(NumberField):
    """A fee or tax as a fraction: 0.036 is 3.6 %, and so is ``3.6%``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(percent=True, **kwargs)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and not Decimal(0) <= value < Decimal(1):
            raise ValidationError(
                f"must be a fraction from 0 to below 1 (e.g. 0.036 or 3.6% for 3.6 %), "
                f"got {_number(value)}"
            )


class IdField(_QuickCopy, _ExplainedErrors, forms.IntegerField):
    def __init__(self, *, noun: str, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(min_value=0, max_value=2**63 - 1, **kwargs)
        self.noun = noun
        self.error_messages["required"] = "is required"

    def unreadable(self, value: Any) -> str:
        return f"must be a whole {self.noun} id{_given(value)}"

    def out_of_bounds(self, value: Any) -> str:
        article = "an" if self.noun[0] in "aeiou" else "a"
        return f"is not {article} {self.noun} id: {value}"


def structure_hidden(location_id: int, *, user: Any) -> bool:
    """True for a structure the user may not see (someone else's private one)."""
    return (
        location_id >= FIRST_STRUCTURE_ID
        and Structure.objects.filter(pk=location_id).exists()
        and not Structure.objects.visible_to(user).filter(pk=location_id).exists()
    )


class StationField(IdField):
    """A market location, cleaned to a ``StationRef``: a hub, any NPC station of the SDE, or a
    tracked structure the form's user may see (``market.structures.queries.location_get``).

    An id in the structures' range that is no such structure (unknown, stopped, or someone
    else's private one) fails with the code ``HIDDEN``, which the views answer with a 404
    (``QueryForm.hidden_location``); an unknown station id stays a 400 naming the parameter."""

    HIDDEN = "hidden"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(noun="station", **kwargs)
        self.user: Any = None

    def clean(self, value: Any) -> StationRef | None:
        station_id = super().clean(value)
        if station_id is None:
            return None
        if station_id < FIRST_STRUCTURE_ID:
            station = station_get(station_id)
            if station is None:
                raise ValidationError(f"unknown station {station_id}")
            return station
        location = location_get(station_id, user=self.user)
        if location is None:
            raise ValidationError(f"no tracked structure {station_id}", code=self.HIDDEN)
        return location


class RegionField(IdField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(noun="region", **kwargs)

    def clean(self, value: Any) -> int | None:
        region_id = super().clean(value)
        if region_id is not None and not region_known(region_id):
            raise ValidationError(f"unknown region {region_id}")
        return region_id


class StrictChoiceField(_QuickCopy, forms.ChoiceField):
    def validate(self, value: Any) -> None:
        if value in self.empty_values:
            return super().validate(value)
        if not self.valid_value(value):
            choices = ", ".join(str(key) for key, _ in self.choices if key not in ("", None))
            raise ValidationError(f"must be one of {choices}, got {str(value)[:40]!r}")


class BooleanParam(StrictChoiceField):
    TRUE, FALSE = ("true", "1"), ("false", "0")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[("true", "true"), ("false", "false")], required=False, **kwargs)

    def to_python(self, value: Any) -> str:
        return str(value).strip().lower() if value not in self.empty_values else ""

    def valid_value(self, value: Any) -> bool:
        return value in self.TRUE + self.FALSE

    def clean(self, value: Any) -> bool | None:
        text = super().clean(value)
        return None if text == "" else text in self.TRUE


class PageField(_QuickCopy, _ExplainedErrors, forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 1_000_000)
        super().__init__(**kwargs)

    def unreadable(self, value: Any) -> str:
        return f"must be a whole number{_given(value)}"

    def out_of_bounds(self, value: Any) -> str:
        return f"must be from {self.min_value} to {self.max_value}, got {value}"


class FeesForm(QueryForm):
    """``sales_tax`` and ``broker_fee`` override the trader's profile (fractions)."""

    sales_tax = RateField(label="Sales tax")
    broker_fee = RateField(label="Broker fee")

    def rates(self, profile: FeeRates) -> FeeRates:
        return FeeRates(
            sales_tax=self.get("sales_tax", profile.sales_tax),
            broker_fee=self.get("broker_fee", profile.broker_fee),
        )


class ShareField(NumberField):
    """A market share: a fraction above 0 and at most 1, and ``10%`` is 0.1."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(percent=True, **kwargs)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and not Decimal(0) < value <= Decimal(1):
            raise ValidationError(
                f"must be a fraction above 0 and at most 1 (e.g. 0.1 or 10% for 10 %), "
                f"got {_number(value)}"
            )


class CategoryListField(_QuickCopy, forms.Field):
    """Category ids to leave out, repeatable (``exclude_category=9&exclude_category=91``) or
    comma-separated (``9,91``); ``none`` alone leaves nothing out. Cleaned to a frozenset, or
    None when the parameter is absent (then the trader's saved choice, or the defaults)."""

    NONE = "none"
    MAX_IDS = 100

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> frozenset[int] | None:
        if value in self.empty_values:
            return None
        values = value if isinstance(value, list) else [value]
        ids: set[int] = set()
        for text in (part.strip() for given in values for part in str(given).split(",")):
            if not text or text.lower() == self.NONE:
                continue
            if not re.fullmatch(r"[0-9]{1,10}", text):
                raise ValidationError(
                    f"must be category ids (e.g. 9 or 9,91) or none{_given(text)}"
                )
            ids.add(int(text))
            if len(ids) > self.MAX_IDS:
                raise ValidationError(f"at most {self.MAX_IDS} categories")
        return frozenset(ids)

    def validate(self, value: Any) -> None:
        if not value:
            return
        known = set(Category.objects.filter(pk__in=value).values_list("pk", flat=True))
        unknown = sorted(value - known)
        if unknown:
            raise ValidationError(f"unknown category {unknown[0]}")


class CategoriesForm(FeesForm):
    """A desk table that leaves categories out (station trading, hauling): ``exclude_category``
    defaults to the trader's saved choice, and for anonymous traders to blueprints and SKINs."""

    exclude_category = CategoryListField(label="Leave out")

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        # A query form keeps one value per parameter; the categories may come repeated.
        categories = data.getlist("exclude_category") if hasattr(data, "getlist") else None
        super().__init__(data, **kwargs)
        if categories and any(str(value).strip() for value in categories):
            self.data["exclude_category"] = categories

    @property
    def categories_chosen(self) -> frozenset[int] | None:
        """The categories this query leaves out; None when it does not say."""
        return self.cleaned_data.get("exclude_category")

    def excluded_categories(self, profile: TradingProfile | None) -> frozenset[int]:
        chosen = self.categories_chosen
        if chosen is not None:
            return chosen
        if profile is not None:
            return frozenset(profile.excluded_category_ids)
        return frozenset(DEFAULT_EXCLUDED_CATEGORY_IDS)


class StationTradingForm(CategoriesForm):
    """The station-trading table's parameters, for the page and the API alike. ``share`` and
    ``exclude_category`` default to the trader's profile (``market_share``,
    ``excluded_category_ids``), and for anonymous traders to 10 % and blueprints and SKINs."""

    station_id = StationField(label="Hub")
    min_margin = NumberField(
        label="Min margin", percent=True, help_text="a fraction: 0.05 is 5 %, and so is 5%"
    )
    min_volume = NumberField(
        label="Min daily volume", minimum=Decimal(0), below=MAX_ISK, amounts=True
    )
    min_profit = NumberField(label="Min profit per unit", below=MAX_ISK, amounts=True)
    max_price = NumberField(label="Max price", minimum=Decimal(0), below=MAX_ISK, amounts=True)
    market_group = IdField(noun="market group", label="Market group")
    volume_cap = NumberField(
        label="Units a day at most",
        minimum=Decimal(0),
        below=MAX_ISK,
        amounts=True,
        help_text="your own cap",
    )
    share = ShareField(label="Market share", help_text="of the daily volume: 0.1 or 10%")
    min_station_volume = NumberField(
        label="Min station volume", minimum=Decimal(0), below=MAX_ISK, amounts=True
    )
    min_achievable_profit = NumberField(label="Min profit / day", below=MAX_ISK, amounts=True)
    trades_daily = BooleanParam(label="Trades daily")
    include_flagged = BooleanParam(label="Show flagged rows")
    sort = StrictChoiceField(choices=_sort_choices(STATION_TRADING_COLUMNS), required=False)
    page = PageField()
    page_size = PageField(max_value=MAX_PAGE_SIZE)

    field_order = [
        "station_id",
        "min_margin",
        "min_volume",
        "min_profit",
        "max_price",
        "market_group",
        "volume_cap",
        "share",
        "min_station_volume",
        "min_achievable_profit",
        "exclude_category",
        "trades_daily",
        "include_flagged",
        "sales_tax",
        "broker_fee",
        "sort",
        "page",
        "page_size",
    ]

    def clean_market_group(self) -> int | None:
        group_id = self.cleaned_data.get("market_group")
        if group_id is not None and not MarketGroup.objects.filter(pk=group_id).exists():
            raise ValidationError(f"unknown market group {group_id}")
        return group_id

    def market_share(self, profile: TradingProfile | None) -> Decimal:
        return self.get("share") or (profile.market_share if profile else DEFAULT_MARKET_SHARE)

    def filters(self, profile: TradingProfile | None = None) -> TradingFilters:
        return TradingFilters(
            min_margin=self.get("min_margin"),
            min_daily_volume=self.get("min_volume"),
            min_profit=self.get("min_profit"),
            max_price=self.get("max_price"),
            market_group_id=self.get("market_group"),
            min_station_volume=self.get("min_station_volume"),
            min_achievable_profit=self.get("min_achievable_profit"),
            excluded_category_ids=self.excluded_categories(profile),
            trades_daily=bool(self.get("trades_daily")),
        )


class HaulingForm(CategoriesForm):
    """Hauling's parameters. ``share`` (of what the destination absorbs a day, for a relist)
    overrides the trader's profile; ``include_flagged`` shows the rows the flags leave out;
    ``exclude_category`` as in station trading."""

    from_station_id = StationField(label="From")
    to_station_id = StationField(label="To")
    mode = StrictChoiceField(choices=[(m, m) for m in HAUL_MODES], required=False, label="Mode")
    budget = NumberField(label="Budget (ISK)", minimum=Decimal(0), below=MAX_ISK, amounts=True)
    cargo_m3 = NumberField(label="Cargo (m³)", minimum=Decimal(0), below=MAX_ISK, amounts=True)
    route = StrictChoiceField(choices=[(r, r) for r in ROUTES], required=False, label="Route")
    share = NumberField(
        label="Market share", percent=True, help_text="a fraction: 0.1 is 10 %, and so is 10%"
    )
    include_flagged = BooleanParam(label="Show flagged rows")
    sort = StrictChoiceField(choices=_sort_choices(HUB_HAULING_COLUMNS), required=False)
    page = PageField()
    page_size = PageField(max_value=MAX_PAGE_SIZE)

    field_order = [
        "from_station_id",
        "to_station_id",
        "mode",
        "budget",
        "cargo_m3",
        "sales_tax",
        "broker_fee",
        "route",
        "share",
        "exclude_category",
        "include_flagged",
        "sort",
        "page",
        "page_size",
    ]

    def clean_share(self) -> Decimal | None:
        share = self.cleaned_data.get("share")
        if share is not None and not Decimal(0) < share <= Decimal(1):
            raise ValidationError(
                f"must be a fraction above 0 and at most 1 (e.g. 0.1 or 10% for 10 %), "
                f"got {_number(share)}"
            )
        return share

    def market_share(self, profile: TradingProfile | None) -> Decimal:
        """The ``share`` of the URL, else the trader's profile's, else 10 %."""
        given = self.get("share")
        if given is not None:
            return given
        return profile.market_share if profile else DEFAULT_MARKET_SHARE

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        origin, destination = data.get("from_station_id"), data.get("to_station_id")
        if origin and destination and origin.station_id == destination.station_id:
            self.add_error("to_station_id", "must differ from from_station_id")
        return data


class OrdersForm(QueryForm):
    region_id = RegionField(required=True)
    type_id = IdField(noun="type")
    # Any location of the region's book; a tracked structure reads the structure's own book
    # (``structure``), someone else's private one is hidden (404).
    location_id = IdField(noun="location")
    is_buy_order = BooleanParam()
    after = IdField(noun="order", help_text="the last order_id of the previous page")
    page_size = PageField(max_value=MAX_PAGE_SIZE)

    def clean_location_id(self) -> int | None:
        location_id = self.cleaned_data.get("location_id")
        if location_id is not None and structure_hidden(location_id, user=self.user):
            raise ValidationError(f"no tracked structure {location_id}", code=StationField.HIDDEN)
        return location_id

    def structure(self) -> StationRef | None:
        """The tracked structure ``location_id`` names, when the caller may see it."""
        location_id = self.cleaned_data.get("location_id")
        if location_id is None or location_id < FIRST_STRUCTURE_ID:
            return None
        location = location_get(location_id, user=self.user)
        return location if location is not None and location.is_structure else None


class HistoryForm(QueryForm):
    region_id = RegionField(required=True)
    type_id = IdField(noun="type", required=True)
    days = PageField(max_value=MAX_HISTORY_DAYS)
    page = PageField()
    page_size = PageField(max_value=MAX_PAGE_SIZE)


class StationVolumeForm(QueryForm):
    # Any location id: a hub, an NPC station or a player structure (the API answers 404 for
    # one it knows nothing of).
    station_id = IdField(noun="station", required=True)
    type_id = IdField(noun="type", required=True)
    days = PageField(max_value=MAX_STATION_VOLUME_DAYS)


class TypePageForm(QueryForm):
    station_id = StationField(label="Hub")
    days = StrictChoiceField(
        choices=[(str(d), f"{d} days") for d in HISTORY_WINDOWS], required=False
    )
    scope = StrictChoiceField(
        choices=[("station", "at the hub station"), ("region", "in the whole region")],
        required=False,
    )
    sell_sort = StrictChoiceField(choices=_sort_choices(BOOK_SORTS), required=False)
    buy_sort = StrictChoiceField(choices=_sort_choices(BOOK_SORTS), required=False)
    sell_page = PageField()
    buy_page = PageField()

    def clean_days(self) -> int | None:
        days = self.cleaned_data.get("days")
        return int(days) if days else None


class SearchForm(QueryForm):
    q = forms.CharField(max_length=100, required=False, strip=True)
