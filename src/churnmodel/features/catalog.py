"""What every feature means, in one place: definitions for people and driver sentences.

Each feature column matches one :class:`Entry` of :data:`CATALOG` (by exact name or a
pattern such as ``n_{w}d``). An entry names its *family*, a short label, and a one-line
definition. Sentences for a retention manager come from one small template per family
(:data:`TEMPLATES`), filled with the feature's value and, where it helps, the customer's
own reference values (their usual purchase gap, their average CSAT). A feature no entry
matches still gets a plain generic sentence, so a new builder never breaks explaining.
"""

from __future__ import annotations

import functools
import math
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Entry:
    pattern: str  # full-match regex; a ``(?P<w>\d+)`` group is the window in days
    family: str
    label: str  # e.g. "purchases in the last {w} days"
    definition: str


CATALOG: tuple[Entry, ...] = (
    # --- rfm --------------------------------------------------------------------------
    Entry("recency_days", "recency", "days since the last purchase",
          "Whole days between the cutoff day and the last purchase day."),
    Entry("frequency", "frequency", "purchase days ever",
          "Distinct days with positive spend, up to the cutoff."),
    Entry("purchases_per_30d", "frequency", "purchases per month",
          "Purchase days per 30 days of tenure (tenure floored at 30 days)."),
    Entry(r"n_(?P<w>\d+)d", "frequency", "purchases in the last {w} days",
          "Purchase days in the window (cutoff - w, cutoff]; 0 when none."),
    Entry("monetary_total", "monetary", "total spend",
          "Sum of positive daily spend up to the cutoff."),
    Entry("monetary_mean", "monetary", "average spend per purchase day",
          "Mean positive spend per purchase day."),
    Entry(r"spend_(?P<w>\d+)d", "monetary", "spend in the last {w} days",
          "Positive spend in the window (cutoff - w, cutoff]; 0 when none."),
    Entry("tenure_days", "tenure", "days since the first purchase",
          "Whole days between the first purchase day and the cutoff."),
    Entry("days_since_signup", "tenure", "days since signup",
          "Whole days between signup and the cutoff."),
    Entry("trend_90d", "trend", "purchases in the last 90 days vs the 90 days before",
          "(purchases in the last 90 days + 1) / (purchases 90-180 days ago + 1)."),
    Entry("gap_mean_days", "rhythm", "usual gap between purchases (days)",
          "Mean days between consecutive purchase days; missing with one purchase."),
    Entry("gap_std_days", "rhythm", "variability of the purchase gap (days)",
          "Sample std (ddof=1) of the gaps; missing with fewer than two gaps."),
    Entry("gap_last_days", "rhythm", "last gap between purchases (days)",
          "Days between the last two purchase days."),
    Entry("overdue_ratio", "rhythm", "days since the last purchase over the usual gap",
          "recency_days / gap_mean_days; above 1 means the next purchase is overdue."),
    Entry("refund_count", "refunds", "refunds", "Number of refund lines (negative amounts)."),
    Entry("refund_total", "refunds", "refunded amount", "Sum of refunded amounts (positive)."),
    Entry("distinct_categories", "frequency", "product categories bought",
          "Distinct categories with positive spend."),
    # --- satisfaction -------------------------------------------------------------------
    Entry("csat_count", "csat", "CSAT answers", "Number of CSAT answers up to the cutoff."),
    Entry("csat_mean", "csat", "average CSAT", "Mean CSAT (1-5) of all answers."),
    Entry("csat_last", "csat", "last CSAT", "The latest CSAT answer (1-5)."),
    Entry("csat_gap", "csat", "last CSAT vs the customer's earlier average",
          "Latest CSAT minus the mean of the earlier answers."),
    Entry("csat_mean_90d", "csat", "average CSAT in the last 90 days",
          "Mean CSAT of answers in the last 90 days."),
    Entry("csat_trend_90d", "csat", "CSAT change in the last 90 days",
          "Mean CSAT of the last 90 days minus the mean before."),
    Entry("csat_min_365d", "csat", "lowest CSAT in the last year",
          "Minimum CSAT answer in the last 365 days."),
    Entry("nps_count", "nps", "NPS answers", "Number of NPS answers up to the cutoff."),
    Entry("nps_last", "nps", "last NPS", "The latest NPS answer (0-10)."),
    Entry("nps_mean", "nps", "average NPS", "Mean NPS answer (0-10)."),
    Entry("detractor_share", "nps", "share of detractor NPS answers",
          "Share of NPS answers of 0-6."),
    Entry("nps_group", "nps", "NPS group", "Group of the last NPS answer: promoter 9-10, "
          "passive 7-8, detractor 0-6."),
    Entry("days_since_feedback", "engagement", "days since the last feedback",
          "Whole days since the latest CSAT or NPS answer."),
    # --- service ------------------------------------------------------------------------
    Entry(r"tickets_(?P<w>\d+)d", "tickets", "support tickets in the last {w} days",
          "Tickets opened in the window."),
    Entry("days_since_ticket", "tickets", "days since the last ticket",
          "Whole days since the latest ticket was opened."),
    Entry(r"complaints_(?P<w>\d+)d", "tickets", "complaints in the last {w} days",
          "Tickets flagged as complaints opened in the window."),
    Entry("resolution_hours_mean", "resolution", "average ticket resolution time (hours)",
          "Mean hours from opening to resolution of tickets resolved by the cutoff."),
    Entry("resolution_hours_max_365d", "resolution", "slowest ticket resolution in the last "
          "year (hours)", "Maximum resolution hours of tickets opened in the last 365 days."),
    Entry("slow_tickets_365d", "resolution", "tickets resolved in over 72 hours in the last year",
          "Tickets of the last 365 days resolved in over 72 hours."),
    Entry("open_tickets", "open_tickets", "open tickets", "Tickets unresolved at the cutoff."),
    Entry("open_ticket_age_days", "open_tickets", "age of the oldest open ticket (days)",
          "Days since the oldest unresolved ticket was opened."),
    # --- profile -------------------------------------------------------------------------
    Entry("loyalty_tier", "profile", "loyalty tier", "Loyalty tier from the customers table."),
    Entry("region", "profile", "region", "Region from the customers table."),
    Entry("channel", "profile", "acquisition channel", "Channel from the customers table."),
    # --- engagement (event log) and signs of life (features/engagement.py) ------------------
    Entry(r"events_(?P<w>\d+)d", "engagement", "logged events in the last {w} days",
          "Event rows (logins, sessions, page views, email opens...) in the window; 0 when none."),
    Entry(r"event_days_(?P<w>\d+)d", "engagement", "active days in the last {w} days",
          "Distinct days with any event in the window; 0 when none."),
    Entry("days_since_event", "engagement", "days since the last logged event",
          "Whole days since the latest event of any type."),
    Entry("event_gap_days", "engagement", "usual gap between active days (days)",
          "Span of the active days of the last 365 days / (their number - 1); missing with "
          "fewer than two."),
    Entry("event_trend_30d", "engagement", "events in the last 30 days vs the 60 before",
          "(events in the last 30 days + 1) / (events 30-90 days ago / 2 + 1)."),
    Entry("event_days_after_purchase", "engagement", "active days since the last purchase",
          "Distinct days with any event after the last purchase day."),
    Entry("event_value_30d", "engagement", "event value in the last 30 days (e.g. minutes)",
          "Sum of the events' value column (e.g. session minutes) in the last 30 days."),
    Entry(r"events_(?P<t>[a-z0-9_]+)_(?P<w>\d+)d", "engagement", "{t} events in the last {w} days",
          "Events of this type (a type learned at training) in the window; 0 when none."),
    Entry(r"days_since_event_(?P<t>[a-z0-9_]+)", "engagement", "days since the last {t} event",
          "Whole days since the latest event of this type."),
    Entry(r"event_gap_days_(?P<t>[a-z0-9_]+)", "engagement", "usual gap between {t} events (days)",
          "Span of the days with this type in the last 365 days / (their number - 1)."),
    Entry("days_since_contact", "engagement", "days since the last contact of any kind",
          "Whole days since the latest purchase or refund, survey answer, ticket or event."),
    Entry("contact_after_purchase_days", "engagement", "days seen after the last purchase",
          "Days from the last purchase day to the latest contact day (0 when none since)."),
    Entry("days_since_nps", "engagement", "days since the last NPS answer",
          "Whole days since the latest NPS answer."),
)


@functools.lru_cache(maxsize=4096)
def lookup(feature: str) -> tuple[Entry | None, Mapping[str, str]]:
    """The catalogue entry of ``feature`` and the pattern's captured groups.

    Cached: writing drivers looks up the same few dozen names hundreds of thousands of
    times at scale (4 s of regular expressions for 80k customers uncached).
    """
    for e in CATALOG:
        m = re.fullmatch(e.pattern, feature)
        if m:
            return e, types.MappingProxyType(m.groupdict())
    return None, types.MappingProxyType({})


def label(feature: str) -> str:
    e, groups = lookup(feature)
    return e.label.format(**groups) if e else feature.replace("_", " ")


def definition(feature: str) -> str:
    e, _ = lookup(feature)
    return e.definition if e else "(no definition in the catalogue)"


def family(feature: str) -> str:
    e, _ = lookup(feature)
    return e.family if e else "other"


def describe(features: list[str]) -> list[dict[str, str]]:
    """The feature list with family, label and definition (logged with every model)."""
    return [{"feature": f, "family": family(f), "label": label(f), "definition": definition(f)}
            for f in features]


# --- sentences ---------------------------------------------------------------------------

def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _fmt(x: float) -> str:
    """Counts as integers, others with one decimal (or none when large)."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"


Row = Mapping[str, Any]
Template = Callable[[str, float, Row], str]


def _recency(f: str, v: float, row: Row) -> str:
    gap = _num(row.get("gap_mean_days"))
    s = f"No purchase for {_fmt(v)} days"
    return s + (f" — {v / gap:.1f}× this customer's usual gap of {_fmt(gap)} days" if gap else "")


def _rhythm(f: str, v: float, row: Row) -> str:
    if f == "overdue_ratio":
        gap = _num(row.get("gap_mean_days"))
        tail = f" of {_fmt(gap)} days" if gap else ""
        return f"Next purchase overdue: {v:.1f}× the usual gap{tail} has passed"
    return f"{_cap(label(f))}: {_fmt(v)}"


def _trend(f: str, v: float, row: Row) -> str:
    if v < 1:
        return f"Buying less: {round((1 - v) * 100)}% fewer purchases in the last 90 days than before"
    return f"Purchases in the last 90 days vs before: {v:.1f}×"


_SINGULAR = {"purchases": "purchase", "tickets": "ticket", "complaints": "complaint",
             "refunds": "refund", "answers": "answer", "categories": "category",
             "days": "day", "ticket(s)": "ticket"}


def _noun(text: str, v: float) -> str:
    """``text`` with its first plural word made singular when ``v`` is 1."""
    if v != 1:
        return text.replace("(s)", "s")
    words = text.split(" ")
    for i, w in enumerate(words):
        if w in _SINGULAR:
            words[i] = _SINGULAR[w]
            break
    return " ".join(words)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _count(f: str, v: float, row: Row) -> str:
    if v == 0:
        return f"No {_noun(label(f), v)}"
    return f"{'Only ' if v <= 2 else ''}{_fmt(v)} {_noun(label(f), v)}"


def _money(f: str, v: float, row: Row) -> str:
    return f"{_cap(label(f))}: {_fmt(v)}"


def _csat(f: str, v: float, row: Row) -> str:
    mean = _num(row.get("csat_mean"))
    if f == "csat_last":
        down = f", down from an average of {mean:.1f}" if mean is not None and mean > v + 0.05 else ""
        return f"Last CSAT {_fmt(v)}/5{down}"
    if f in ("csat_gap", "csat_trend_90d"):
        word = "down" if v < 0 else "up"
        what = "Last CSAT" if f == "csat_gap" else "CSAT in the last 90 days"
        ref = "the customer's earlier average" if f == "csat_gap" else "before"
        return f"{what} {word} {abs(v):.1f} points vs {ref}"
    if f == "csat_count":
        return _count(f, v, row)
    return f"{_cap(label(f))}: {_fmt(v)}/5"


def _nps(f: str, v: float, row: Row) -> str:
    if f == "nps_last":
        group = "detractor" if v <= 6 else "passive" if v <= 8 else "promoter"
        return f"Last NPS answer {_fmt(v)}/10 (a {group})"
    if f == "detractor_share":
        return f"{round(v * 100)}% of NPS answers are detractor scores (0-6)"
    if f == "nps_count":
        return _count(f, v, row)
    return f"{_cap(label(f))}: {_fmt(v)}/10"


def _days(f: str, v: float, row: Row) -> str:
    if f == "days_since_feedback":
        return f"No survey answer for {_fmt(v)} days"
    return f"{_cap(label(f))}: {_fmt(v)}"


def _resolution(f: str, v: float, row: Row) -> str:
    if f == "slow_tickets_365d":
        return f"{_fmt(v)} {_noun('tickets', v)} took over 72 hours to resolve in the last year"
    if "max" in f:
        return f"A ticket took {_fmt(v)} hours to resolve in the last year"
    return f"Tickets took {_fmt(v)} hours to resolve on average"


def _open(f: str, v: float, row: Row) -> str:
    if f == "open_tickets":
        age = _num(row.get("open_ticket_age_days"))
        oldest = f", the oldest for {_fmt(age)} days" if age else ""
        return f"{_fmt(v)} {_noun('tickets', v)} still open{oldest}"
    return f"A ticket has been open for {_fmt(v)} days"


def _tenure(f: str, v: float, row: Row) -> str:
    return f"Customer for {_fmt(v)} days" + (" (a new customer)" if v < 90 else "")


def _generic(f: str, v: float, row: Row) -> str:
    return f"{_cap(label(f))}: {_fmt(v)}"


# How an event type reads in a sentence (others: the slug with spaces).
EVENT_WORDS = {"session": ("app session", "app sessions"), "page_view": ("page view", "page views"),
               "email_open": ("email opened", "emails opened"), "login": ("login", "logins")}


def _event_word(t: str, n: float = 1) -> str:
    one, many = EVENT_WORDS.get(t, (t.replace("_", " ") + " event", t.replace("_", " ") + " events"))
    return one if n == 1 else many


def _every(gap: float | None) -> str:
    if not gap:
        return ""
    return " — usually every day" if gap < 1.5 else f" — usually every {_fmt(round(gap))} days"


def _engagement(f: str, v: float, row: Row) -> str:
    """Sentences of the event log and of the signs of life; other engagement features (the
    days since feedback) keep their own template."""
    e, groups = lookup(f)
    t = groups.get("t")
    if f == "days_since_event":
        if v == 0:
            return "Active today"
        return f"No logged activity for {_fmt(v)} days{_every(_num(row.get('event_gap_days')))}"
    if t is not None and f.startswith("days_since_event_"):
        if v == 0:
            return f"Last {_event_word(t)} today"
        return f"No {_event_word(t)} for {_fmt(v)} days{_every(_num(row.get(f'event_gap_days_{t}')))}"
    if t is not None and f.startswith("events_"):
        w = groups["w"]
        what = _event_word(t, v)
        return f"No {what} in the last {w} days" if v == 0 else \
            f"{'Only ' if v <= 2 else ''}{_fmt(v)} {what} in the last {w} days"
    if "w" in groups and (f.startswith("events_") or f.startswith("event_days_")):
        noun = "logged event" if f.startswith("events_") else "active day"
        what = noun + ("s" if v != 1 else "")
        return f"No {what} in the last {groups['w']} days" if v == 0 else \
            f"{'Only ' if v <= 2 else ''}{_fmt(v)} {what} in the last {groups['w']} days"
    if f == "event_trend_30d":
        if v < 1:
            return (f"Less active: {round((1 - v) * 100)}% fewer events in the last 30 days than "
                    "in the 60 before")
        return f"Events in the last 30 days vs the 60 before: {v:.1f}×"
    if f == "event_days_after_purchase":
        return "No activity since the last purchase" if v == 0 else \
            f"Active on {_fmt(v)} {'day' if v == 1 else 'days'} since the last purchase"
    if f == "days_since_contact":
        if v == 0:
            return "Last contact today"
        return f"No contact of any kind (purchase, survey, ticket, app) for {_fmt(v)} days"
    if f == "contact_after_purchase_days":
        return "Not heard from since the last purchase" if v == 0 else \
            f"Last heard from {_fmt(v)} days after the last purchase"
    if f == "days_since_nps":
        return f"No NPS answer for {_fmt(v)} days"
    if e is not None and e.pattern.startswith("event_gap_days"):
        return f"{_cap(label(f))}: {_fmt(v)}"
    return _days(f, v, row)


# What "no value" means for single features of a family whose other features mean
# something else when missing.
MISSING_FEATURE: dict[str, str] = {
    "days_since_event": "No logged activity on record",
    "event_gap_days": "Too few active days for a usual rhythm",
    "days_since_nps": "No NPS answer on record",
    "days_since_contact": "No contact on record",
}


def _missing_event(feature: str) -> str | None:
    if feature in MISSING_FEATURE:
        return MISSING_FEATURE[feature]
    t = lookup(feature)[1].get("t")
    if t is not None and feature.startswith("days_since_event_"):
        return f"No {_event_word(t)} on record"
    if t is not None and feature.startswith("event_gap_days_"):
        return f"Too few days with a {_event_word(t)} for a usual rhythm"
    return None


TEMPLATES: dict[str, Template] = {
    "recency": _recency, "rhythm": _rhythm, "trend": _trend, "frequency": _count,
    "monetary": _money, "refunds": _count, "csat": _csat, "nps": _nps,
    "engagement": _engagement, "tickets": _count, "resolution": _resolution,
    "open_tickets": _open, "tenure": _tenure,
}


def sentence(feature: str, value: Any, row: Row | None = None) -> str:
    """A plain sentence saying what ``feature`` = ``value`` means for this customer.

    ``row`` holds the customer's other features, used for context (usual gap, average CSAT).

    >>> sentence("recency_days", 94, {"gap_mean_days": 30.0})
    "No purchase for 94 days — 3.1× this customer's usual gap of 30 days"
    >>> sentence("csat_last", 2, {"csat_mean": 4.2})
    'Last CSAT 2/5, down from an average of 4.2'
    >>> sentence("csat_last", None)
    'No CSAT answer on record'
    >>> sentence("loyalty_tier", "bronze")
    'Loyalty tier: bronze'
    >>> sentence("days_since_event_session", 41, {"event_gap_days_session": 3.2})
    'No app session for 41 days — usually every 3 days'
    """
    row = row or {}
    x = _num(value)
    if x is None:
        if value is None or pd.isna(value):
            if feature == "days_since_ticket":
                return "No support ticket on record"
            if (text := _missing_event(feature)) is not None:
                return text
            return MISSING.get(family(feature), f"No {label(feature)} on record")
        return f"{_cap(label(feature))}: {str(value).replace('_', ' ')}"  # a category
    return TEMPLATES.get(family(feature), _generic)(feature, x, row)


# What "no value" means for a family (never answered, only one purchase, ...).
MISSING: dict[str, str] = {
    "rhythm": "Only one purchase so far: no purchase rhythm yet",
    "recency": "No purchase on record",
    "csat": "No CSAT answer on record",
    "nps": "No NPS answer on record",
    "engagement": "Never gave feedback",
    "resolution": "No resolved support ticket on record",
    "open_tickets": "No open support ticket",
}
