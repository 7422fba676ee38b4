"""Want-list workflows across models: merging cards into a want list, checking a spec against a
card's printings, resolving deck-list lines to cards and specs, and the deck-list import's
preview of what a list would change.

A list merges in one of three modes (`MERGE_MODES`): "add" adds the amounts, "max" keeps the
larger one, "replace" takes the list's. What a single want accepts, says and exports stays on
`WantedCard` and `WantSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.db import transaction

from stores.catalog import card_suggestions, cards_resolve, front_face, name_normalise
from stores.decklists import DeckLine, ParsedDeck
from stores.models import (
    ANY_COPY,
    LANGUAGES,
    MAX_AMOUNT,
    Card,
    Finish,
    Set,
    WantedCard,
    WantSpec,
)
from stores.stock import stores_currency, stores_preferred

# --- Merging a list into a want list -------------------------------------------------------------
MERGE_MODES = ("add", "max", "replace")


def amount_merged(tracked: int, amount: int, mode: str) -> int:
    """The amount a tracked want ends with when a list brings ``amount`` more (uncapped)."""
    if mode == "add":
        return tracked + amount
    if mode == "max":
        return max(tracked, amount)
    if mode == "replace":
        return amount
    raise ValueError(f"unknown merge mode {mode!r}; known: {', '.join(MERGE_MODES)}")


def wanted_card_merge(
    *,
    owner: Any,
    card: Card,
    amount: int,
    specs: list[dict[str, Any]] | None = None,
    mode: str = "add",
) -> tuple[WantedCard, bool]:
    """Track ``amount`` copies of ``card`` for ``owner``, merging with what is tracked.

    ``mode`` "add" adds the amounts, "max" keeps the larger one, "replace" takes
    ``amount`` (and ``specs``, when there are some, instead of the tracked ones: the list
    says exactly which copies will do). ``specs`` name the printings
    the new copies must be; none means the caller has no opinion (a card typed into the add
    form, a deck-list line without a printing), so the copies a tracked want accepts stay as
    the user set them. Named specs widen a tracked want that has specs (any of them will
    do); a tracked want without specs already accepts any copy and stays so. Returns the
    want and whether it was created.
    """
    specs = specs or []
    with transaction.atomic():
        wanted, created = WantedCard.objects.select_for_update().get_or_create(
            owner=owner, card=card, defaults={"amount": min(amount, MAX_AMOUNT)}
        )
        if created:
            for spec in specs:
                wanted.specs.create(**spec)
            return wanted, True
        wanted.amount = min(amount_merged(wanted.amount, amount, mode), MAX_AMOUNT)
        wanted.save(update_fields=["amount", "updated_at"])
        if mode == "replace" and specs:
            wanted.specs.all().delete()
            for spec in specs:
                wanted.spec_add(**spec)
        elif wanted.specs.exists():
            for spec in specs:
                wanted.spec_add(**spec)
        return wanted, False


def wanted_cards_merge(*, owner: Any, rows: list[dict[str, Any]], mode: str) -> tuple[int, int]:
    """Merge rows of plain data (``{"card": id, "amount": n, "specs": [{"set": id, ...}]}``,
    as a deck-list preview carries them) into ``owner``'s want list, all or nothing.
    Returns how many cards were added and how many merged with tracked ones."""
    cards = Card.objects.in_bulk([row["card"] for row in rows])
    set_ids = [s["set"] for row in rows for s in row["specs"] if s.get("set")]
    sets = Set.objects.in_bulk(set_ids)
    added = merged = 0
    with transaction.atomic():
        for row in rows:
            card = cards.get(row["card"])
            if card is None:
                continue
            specs = [{**spec, "set": sets.get(spec.get("set"))} for spec in row["specs"]]
            _, created = wanted_card_merge(
                owner=owner, card=card, amount=row["amount"], specs=specs, mode=mode
            )
            added, merged = (added + 1, merged) if created else (added, merged + 1)
    return added, merged


# --- Specs: which copies of a card a want accepts ------------------------------------------------
def want_spec_check(
    *,
    card: Card,
    set_code: str = "",
    collector_number: str = "",
    finish: str = "any",
    language: str = "",
) -> tuple[dict[str, str], Set | None]:
    """Check a printing spec against ``card``'s real paper printings.

    Returns the problems by field name (each listing the valid options) and the spec's set.
    Every criterion narrows the printings the next one is checked against, so "foil" is
    refused for a set whose printing of the card was never foil.
    """
    printings = list(card.paper_printings())
    problems: dict[str, str] = {}
    chosen_set = None
    if not printings:
        return {"card": f"{card.name} has no paper printings to choose from."}, None
    if set_code:
        in_set = [p for p in printings if p.set.code == set_code.strip().lower()]
        if not in_set:
            problems["set_code"] = (
                f"{card.name} was never printed in {set_code.strip().upper()}; "
                f"printed in: {_options(sorted({str(p.set) for p in printings}))}."
            )
            return problems, None
        chosen_set = in_set[0].set
        printings = in_set
    if collector_number:
        numbered = [p for p in printings if p.collector_number == collector_number.strip()]
        if not numbered:
            where = f" in {chosen_set.code.upper()}" if chosen_set else ""
            problems["collector_number"] = (
                f"{card.name} has no printing numbered {collector_number}{where}; "
                f"valid: {_options(sorted({p.collector_number for p in printings}))}."
            )
            return problems, chosen_set
        printings = numbered
    if language:
        spoken = [p for p in printings if p.lang == language]
        if not spoken:
            problems["language"] = (
                f"{card.name} was never printed in {LANGUAGES.get(language, language)}"
                f"{_narrowed(set_code, collector_number)}; languages: "
                f"{_options(sorted({LANGUAGES.get(p.lang, p.lang) for p in printings}))}."
            )
            return problems, chosen_set
        printings = spoken
    finish_wanted = finish and finish != WantSpec.ANY_FINISH
    if finish_wanted and not any(finish in p.finishes for p in printings):
        finishes = sorted({f for p in printings for f in p.finishes})
        problems["finish"] = (
            f"{card.name} was never printed {Finish(finish).label}"
            f"{_narrowed(set_code, collector_number)}; finishes: {_options(finishes)}."
        )
    return problems, chosen_set


def _options(values: list[str], limit: int = 12) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _narrowed(set_code: str, collector_number: str) -> str:
    if set_code and collector_number:
        return f" as {set_code.upper()} {collector_number}"
    if set_code:
        return f" in {set_code.upper()}"
    if collector_number:
        return f" as number {collector_number}"
    return ""


# --- Deck lists against the catalog -------------------------------------------------------------
# Names of one deck list that get "did you mean" suggestions; the others are only named.
MAX_SUGGESTED_NAMES = 30


@dataclass
class ResolvedLine:
    line: DeckLine
    card: Card | None = None
    # The copies the line accepts, as WantSpec fields; empty: any copy.
    specs: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""
    suggestions: list[str] = field(default_factory=list)


def decklist_resolve(*, parsed: ParsedDeck, keep_printings: bool) -> list[ResolvedLine]:
    """Resolve each parsed deck-list line to a playable card (full name or front face, then
    fuzzy suggestions) and, with ``keep_printings``, its set/number/finish to a valid spec."""
    found = cards_resolve(
        name for line in parsed.lines for name in (line.name, front_face(line.name))
    )
    resolved: list[ResolvedLine] = []
    suggested: dict[str, list[str]] = {}
    for line in parsed.lines:
        card = found.get(name_normalise(line.name)) or found.get(
            name_normalise(front_face(line.name))
        )
        if card is None:
            key = name_normalise(line.name)
            # Each "did you mean" is a fuzzy search: a list of nonsense must not cost thousands.
            if key not in suggested and len(suggested) < MAX_SUGGESTED_NAMES:
                suggested[key] = [c.name for c in card_suggestions(line.name)]
            suggestions = suggested.get(key, [])
            hint = f" — did you mean {_either(suggestions)}?" if suggestions else ""
            resolved.append(
                ResolvedLine(
                    line,
                    problem=f"line {line.line_no}: no card named '{line.name}'{hint}",
                    suggestions=suggestions,
                )
            )
            continue
        item = ResolvedLine(line, card=card)
        if line.specs:
            # Lenny's own tags say exactly which copies will do: kept whatever keep_printings says.
            for spec in line.specs:
                problems, chosen_set = want_spec_check(
                    card=card,
                    set_code=spec.set_code,
                    collector_number=spec.collector_number,
                    finish=spec.finish,
                    language=spec.language,
                )
                if problems:
                    item.problem = f"line {line.line_no}: {next(iter(problems.values()))}"
                    break
                item.specs.append(
                    {
                        "set": chosen_set,
                        "collector_number": spec.collector_number,
                        "finish": spec.finish,
                        "worst_condition": spec.worst_condition,
                        "language": spec.language,
                        "max_price": spec.max_price,
                    }
                )
        elif keep_printings and (line.set_code or line.collector_number or line.finish):
            problems, chosen_set = want_spec_check(
                card=card,
                set_code=line.set_code or "",
                collector_number=line.collector_number or "",
                finish=line.finish or WantSpec.ANY_FINISH,
            )
            if problems:
                item.problem = f"line {line.line_no}: {next(iter(problems.values()))}"
            else:
                item.specs = [
                    {
                        "set": chosen_set,
                        "collector_number": line.collector_number or "",
                        "finish": line.finish or WantSpec.ANY_FINISH,
                    }
                ]
        resolved.append(item)
    return resolved


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# --- Deck-list import preview -------------------------------------------------------------------
@dataclass
class PreviewRow:
    """One card a deck list would add: the lines naming it, summed, and the result."""

    card: Card
    amount: int
    tracked: int
    result: int
    line_numbers: list[int]
    # The printings the lines name; empty when any line names none (those copies may be any).
    specs: list[dict[str, Any]]
    # What the tracked want accepts, which the import keeps ("" when the card is not tracked).
    tracked_copies: str = ""
    mode: str = "add"
    # The amount after a "replace" import: what the one-click "replace instead" would leave.
    replaced: int = 0
    currency: str = ""  # the user's stores' (a max price's), as the dashboard writes it

    def change(self) -> str:
        """What the import does to this card's amount, in words: "adds 4: 4 → 8"."""
        if not self.tracked:
            return f"new: {self.result}"
        arrow = f"{self.tracked} → {self.result}"
        if self.mode == "add":
            return f"adds {self.amount}: {arrow}"
        if self.mode == "max":
            return f"keeps the larger: {arrow}"
        return f"replaces: {arrow}"

    def spec_summary(self) -> str:
        if self.mode == "replace" and self.specs:
            return "; ".join(WantSpec(**spec).summary(self.currency) for spec in self.specs)
        if not self.specs or self.tracked_copies == ANY_COPY:
            return self.tracked_copies or ANY_COPY
        named = "; ".join(WantSpec(**spec).summary(self.currency) for spec in self.specs)
        return f"{named}; {self.tracked_copies}" if self.tracked_copies else named


@dataclass
class ImportPreview:
    format: str
    mode: str
    rows: list[PreviewRow]
    problems: list[str]
    maybeboard_lines: list[int] = field(default_factory=list)  # left out: only considered

    def payload(self, *, owner_id: int, nonce: str) -> dict[str, Any]:
        """What the confirm step needs, as plain data to sign into the preview page."""
        rows = [
            {
                "card": row.card.pk,
                "amount": row.amount,
                "specs": [_spec_plain(spec) for spec in row.specs],
            }
            for row in self.rows
        ]
        return {"owner": owner_id, "mode": self.mode, "nonce": nonce, "rows": rows}

    @property
    def changes_tracked(self) -> bool:
        """Some card is tracked already, so "add" and "replace" differ."""
        return any(row.tracked for row in self.rows)


def _spec_plain(spec: dict[str, Any]) -> dict[str, Any]:
    """A preview's spec as JSON-ready data: the set by id, the price as a string."""
    plain = {**spec, "set": spec["set"].pk if spec.get("set") else None}
    if plain.get("max_price") is not None:
        plain["max_price"] = str(plain["max_price"])
    return plain


def decklist_preview(
    *, owner: Any, parsed: ParsedDeck, keep_printings: bool, mode: str
) -> ImportPreview:
    """What importing ``parsed`` would do to ``owner``'s want list, with every problem by line."""
    # A maybeboard lists cards the player is only considering: not cards to buy.
    considered = [line for line in parsed.lines if line.section == "maybeboard"]
    if considered:
        parsed = replace(parsed, lines=[x for x in parsed.lines if x.section != "maybeboard"])
    resolved = decklist_resolve(parsed=parsed, keep_printings=keep_printings)
    problems = [(e.line_no, str(e)) for e in parsed.errors]
    problems += [(item.line.line_no, item.problem) for item in resolved if item.problem]
    rows: dict[int, PreviewRow] = {}
    any_printing: set[int] = set()
    for item in resolved:
        if item.card is None or item.problem:
            continue
        row = rows.setdefault(item.card.pk, PreviewRow(item.card, 0, 0, 0, [], [], mode=mode))
        row.amount += item.line.amount
        row.line_numbers.append(item.line.line_no)
        if not item.specs:
            any_printing.add(item.card.pk)
        for spec in item.specs:
            if spec not in row.specs:
                row.specs.append(spec)
    tracked = {w.card_id: w for w in WantedCard.objects.for_owner(owner).filter(card__in=rows)}
    currency = stores_currency(stores_preferred(owner=owner))
    for row in rows.values():
        row.currency = currency
        if row.card.pk in any_printing:
            row.specs = []
        wanted = tracked.get(row.card.pk)
        row.tracked = wanted.amount if wanted else 0
        row.result = min(amount_merged(row.tracked, row.amount, mode), MAX_AMOUNT)
        row.replaced = min(row.amount, MAX_AMOUNT)
        if wanted is not None:
            row.tracked_copies = wanted.copies_summary(currency)
    return ImportPreview(
        format=parsed.format,
        mode=mode,
        rows=sorted(rows.values(), key=lambda r: r.line_numbers[0]),
        problems=[message for _, message in sorted(problems, key=lambda p: p[0])],
        maybeboard_lines=[line.line_no for line in considered],
    )
