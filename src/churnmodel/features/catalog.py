"""What every feature means, in one place: definitions for people and driver sentences.

Each feature column matches one :class:`Entry` of :data:`CATALOG` (by exact name or a
pattern such as ``n_{w}d``). An entry names its *family*, its *kind*, a short label, and a
one-line definition. The kind says what a manager can do with it:

- ``lever``: something the business can act on (satisfaction, service, complaints, refunds,
  price and value, engagement);
- ``state``: an activity symptom (recency, purchase counts, rhythm, trend, tenure, days
  since the last survey answer), said as a state, never as a cause;
- ``profile``: who the customer is (tier, region, channel).

Sentences for a retention manager come from one small template per family
(:data:`TEMPLATES`), filled with the feature's value, the direction of its push on the
risk (``up`` raises it, ``down`` holds it down) and, where it helps, the customer's own
reference values (their usual purchase gap, their earlier CSAT). Every template says a
whole sentence; a feature no entry matches still gets a plain generic one, so a new builder
never breaks explaining. :func:`fact` names the fact a sentence states, so overlapping
features (``n_90d`` and ``n_180d`` both 1, every CSAT column of a customer who never
answered) are said once; :func:`lever_sentence` phrases a lever as what to act on.
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
    kind: str = ""  # "lever", "state" or "profile"; empty: the family's (FAMILY_KINDS)


# What a family is to a retention manager (an entry may say otherwise, see Entry.kind).
FAMILY_KINDS: dict[str, str] = {
    "recency": "state", "frequency": "state", "rhythm": "state", "trend": "state",
    "tenure": "state", "monetary": "state",
    "csat": "lever", "nps": "lever", "tickets": "lever", "resolution": "lever",
    "open_tickets": "lever", "refunds": "lever", "engagement": "lever",
    "profile": "profile",
}


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
          "Mean positive spend per purchase day.", kind="lever"),  # price and value
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
    Entry("csat_count", "csat", "CSAT answers", "Number of CSAT answers up to the cutoff.",
          kind="state"),
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
    Entry("nps_count", "nps", "NPS answers", "Number of NPS answers up to the cutoff.",
          kind="state"),
    Entry("nps_last", "nps", "last NPS", "The latest NPS answer (0-10)."),
    Entry("nps_mean", "nps", "average NPS", "Mean NPS answer (0-10)."),
    Entry("detractor_share", "nps", "share of detractor NPS answers",
          "Share of NPS answers of 0-6."),
    Entry("nps_group", "nps", "NPS group", "Group of the last NPS answer: promoter 9-10, "
          "passive 7-8, detractor 0-6."),
    Entry("days_since_feedback", "engagement", "days since the last feedback",
          "Whole days since the latest CSAT or NPS answer.", kind="state"),
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
          "Whole days since the latest purchase or refund, survey answer, ticket or event.",
          "state"),
    Entry("contact_after_purchase_days", "engagement", "days seen after the last purchase",
          "Days from the last purchase day to the latest contact day (0 when none since).",
          "state"),
    Entry("days_since_nps", "engagement", "days since the last NPS answer",
          "Whole days since the latest NPS answer.", "state"),
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


def kind(feature: str) -> str:
    """``lever``, ``state`` or ``profile`` (a feature the catalogue does not know: ``state``)."""
    e, _ = lookup(feature)
    if e is None:
        return "state"
    return e.kind or FAMILY_KINDS.get(e.family, "state")


def describe(features: list[str]) -> list[dict[str, str]]:
    """The feature list with family, kind, label and definition (logged with every model)."""
    return [{"feature": f, "family": family(f), "kind": kind(f), "label": label(f),
             "definition": definition(f)} for f in features]


# --- sentences ---------------------------------------------------------------------------
#
# A template is ``(feature, value, row, direction) -> sentence``: ``value`` is a number (not
# missing), ``row`` the customer's other features (a mapping; absent names give ``None``),
# ``direction`` "up" when the feature raises the risk, "down" when it holds it down. The
# wording follows the push: a low count raising risk reads "Has made only 1 purchase ...",
# holding it down "Has made 1 purchase in the last 30 days". Missing values have their own
# sentences (:func:`_missing_sentence`, :data:`MISSING`): an absence reads the same both ways.

Row = Mapping[str, Any]
Template = Callable[[str, float, Row, str], str]
DIRECTIONS = ("up", "down")


def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _get(row: Row, name: str) -> float | None:
    return _num(row.get(name))


def _fmt(x: float) -> str:
    """Counts as integers, others with one decimal (or none when large)."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"


def _one(x: float) -> str:
    """One decimal, without a trailing ``.0`` (ratios, scores: ``3.1``, ``8``, ``4.5``)."""
    r = round(x, 1)
    return f"{r:,.0f}" if float(r).is_integer() else f"{r:,.1f}"


def _n(x: float, word: str, plural: str | None = None) -> str:
    """``1 purchase``, ``2 purchases``, ``1 product category``, ``3 product categories``."""
    many = plural or (word[:-1] + "ies" if word[-1:] == "y" and word[-2:-1] not in "aeiou"
                      else word + "s")
    return f"{_fmt(x)} {word if x == 1 else many}"


def _days(x: float) -> str:
    return _n(round(x), "day")


def _span(x: float) -> str:
    """A duration in days, in years past two years (``2.3 years``)."""
    return _days(x) if x < 730 else f"{_one(x / 365.25)} years"


def _hours(h: float) -> str:
    return _n(round(h), "hour") if h < 48 else f"{_one(h / 24)} days"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _names(row: Row) -> tuple[str, ...]:
    names = getattr(row, "names", None)
    return names if names is not None else tuple(row.keys())


# (prefix, id(names)) -> (names, windows): rows of one batch share one names tuple, and
# hashing a tuple of 50 names per sentence cost more than the sentence itself.
_WINDOWS: dict[tuple[str, int], tuple[tuple[str, ...], tuple[tuple[int, str], ...]]] = {}


def _window_names(prefix: str, names: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """The ``{prefix}_{w}d`` columns of a row, narrowest window first."""
    hit = _WINDOWS.get((prefix, id(names)))
    if hit is not None and hit[0] is names:
        return hit[1]
    pat = re.compile(rf"{re.escape(prefix)}_(\d+)d")
    found = tuple(sorted((int(m.group(1)), n) for n in names if (m := pat.fullmatch(n))))
    if len(_WINDOWS) > 256:
        _WINDOWS.clear()
    _WINDOWS[(prefix, id(names))] = (names, found)
    return found


def _same(v: Any, x: float) -> bool:
    y = _num(v)
    return y is not None and abs(y - x) < 1e-6


def _block(prefix: str, f: str, x: float, row: Row, ever: str | None = None
           ) -> tuple[str, str]:
    """The narrowest and the widest window holding the same value as ``f`` (= ``x``).

    Windowed counts grow with the window, so equal values form one block of windows: the
    same fact ("1 purchase in the last 90 days" and "in the last 180 days" when both are 1).
    ``ever`` names a lifetime column that closes the block ("so far") when it is equal too.
    Windows are returned as text: ``"90"`` or ``"ever"``.
    """
    wins = _window_names(prefix, _names(row))
    idx = next((k for k, (_, n) in enumerate(wins) if n == f), None)
    if idx is None:  # the row does not hold the windows: the feature alone
        own = re.sub(r"\D", "", f) or "0"
        return own, own
    lo = hi = idx
    while lo > 0 and _same(row.get(wins[lo - 1][1]), x):
        lo -= 1
    while hi < len(wins) - 1 and _same(row.get(wins[hi + 1][1]), x):
        hi += 1
    widest = str(wins[hi][0])
    if ever is not None and hi == len(wins) - 1 and _same(row.get(ever), x):
        widest = "ever"
    return str(wins[lo][0]), widest


def _in(w: str) -> str:
    return "so far" if w == "ever" else f"in the last {w} days"


# --- activity: states ---------------------------------------------------------------------

def _recency(f: str, v: float, row: Row, direction: str) -> str:
    gap = _get(row, "gap_mean_days")
    ratio = v / gap if gap else None
    if direction == "up":
        s = "Last bought today" if v == 0 else f"Has not bought for {_days(v)}"
        if ratio is not None and gap is not None:
            s += (f", {_one(ratio)}× the usual gap of {_days(gap)}" if ratio >= 1.05
                  else f", within the usual gap of {_days(gap)}")
        return s
    s = "Bought today" if v == 0 else "Bought yesterday" if v == 1 else f"Bought {_days(v)} ago"
    if ratio is not None and gap is not None:
        s += (f", within the usual gap of {_days(gap)}" if ratio < 1.05
              else f", {_one(ratio)}× the usual gap of {_days(gap)}")
    return s


def _absent(row: Row, direction: str) -> str | None:
    """The recency sentence, when the row has it (every purchase absence is that one fact)."""
    r = _get(row, "recency_days")
    return None if r is None else _recency("recency_days", r, row, direction)


def _rhythm(f: str, v: float, row: Row, direction: str) -> str:
    if f == "overdue_ratio":  # recency over the usual gap: the recency fact
        if (s := _absent(row, direction)) is not None:
            return s
        if v >= 1.05:
            return f"Next purchase overdue: {_one(v)}× the usual gap has passed"
        return f"{round(v * 100)}% of the usual gap has passed since the last purchase"
    gap = _get(row, "gap_mean_days")
    if f == "gap_mean_days":
        return (f"Goes about {_days(v)} between purchases on average" if direction == "up"
                else f"Buys regularly, about every {_days(v)}")
    if f == "gap_std_days":
        return (f"Buys irregularly: the gap between purchases varies by about {_days(v)}"
                if direction == "up" else
                f"Buys steadily: the gap between purchases varies by only about {_days(v)}")
    if f == "gap_last_days":
        usual = f", against about {_days(gap)} usually" if gap else ""
        return (f"Took {_days(v)} to come back last time{usual}" if direction == "up"
                else f"Came back after {_days(v)} last time{usual}")
    return _generic(f, v, row, direction)


def _trend(f: str, v: float, row: Row, direction: str) -> str:
    n = _get(row, "n_90d")
    if n is not None and v > 0:  # trend = (n_90d + 1) / (n_prev_90d + 1): say the counts
        prev = max(round((n + 1) / v - 1), 0)
        said = (f"made {_n(n, 'purchase')} in the last 90 days against {_fmt(prev)} "
                "in the 90 days before")
        if n < prev:
            return "Buying less: " + said
        if n > prev:
            return "Buying more: " + said
        return _cap(said)
    if v < 1:
        return f"Buying less: {round((1 - v) * 100)}% fewer purchases in the last 90 days than before"
    if v > 1:
        return f"Buying more: {_one(v)}× as many purchases in the last 90 days as before"
    return "Buying as often in the last 90 days as before"


def _purchases(f: str, v: float, row: Row, direction: str) -> str:
    if v == 0:
        if (s := _absent(row, direction)) is not None:
            return s
        w = _block("n", f, v, row)[1] if f != "frequency" else "ever"
        return "Has not bought yet" if w == "ever" else f"Has not bought in the last {w} days"
    lo, hi = _block("n", f, v, row, ever="frequency") if f != "frequency" else ("ever", "ever")
    if direction == "up":
        return f"Has made {'only ' if v <= 2 else ''}{_n(v, 'purchase')} {_in(hi)}"
    return f"Has made {_n(v, 'purchase')} {_in(lo)}"


def _frequency(f: str, v: float, row: Row, direction: str) -> str:
    if f == "frequency" or f.startswith("n_"):
        return _purchases(f, v, row, direction)
    if f == "purchases_per_30d":
        times = "once" if v == 1 else f"{_one(v)} times"
        only = "only " if direction == "up" and v < 1 else ""
        return f"Buys {only}{times} a month on average"
    if f == "distinct_categories":
        only = "only " if direction == "up" and v <= 1 else ""
        return f"Has bought from {only}{_n(v, 'product category')}"
    return _generic(f, v, row, direction)


def _money(f: str, v: float, row: Row, direction: str) -> str:
    if f.startswith("spend_"):
        n = _get(row, "n" + f[len("spend"):])
        if v == 0 and n == 0 and (s := _absent(row, direction)) is not None:
            return s
        lo, hi = _block("spend", f, v, row)
        w = hi if direction == "up" else lo
        return f"Has spent nothing in the last {w} days" if v == 0 else \
            f"Has spent {_fmt(v)} in the last {w} days"
    if f == "monetary_total":
        return "Has spent nothing so far" if v == 0 else f"Has spent {_fmt(v)} in total so far"
    if f == "monetary_mean":
        return f"Spends about {_fmt(v)} per purchase on average"
    return _generic(f, v, row, direction)


def _tenure(f: str, v: float, row: Row, direction: str) -> str:
    if f == "days_since_signup":
        if direction == "up" and v < 90:
            return f"Is a new customer: signed up {_days(v)} ago"
        return f"Signed up {_span(v)} ago"
    if direction == "up" and v < 90:
        return f"Is a new customer: first bought {_days(v)} ago"
    return f"Has been a customer for {_span(v)}"


# --- satisfaction --------------------------------------------------------------------------

def _mood(x: float) -> str:
    return "dissatisfied" if x <= 2.5 else "neutral" if x < 3.5 else "satisfied"


def _csat_last(last: float, row: Row, gap: float | None = None) -> str:
    gap = _get(row, "csat_gap") if gap is None else gap
    ref = None if gap is None else last - gap  # the mean of the answers before the last
    if ref is not None and ref > last + 0.05:
        return f"Last CSAT {_fmt(last)}/5, down from an average of {ref:.1f}"
    if ref is not None and ref < last - 0.05:
        return f"Last CSAT {_fmt(last)}/5, up from an average of {ref:.1f}"
    return f"Last CSAT {_fmt(last)}/5: {_mood(last)}"


def _csat_trend(v: float, m90: float | None) -> str:
    to = f", to {m90:.1f}/5" if m90 is not None else ""
    points = "point" if _one(abs(v)) == "1" else "points"
    if v < 0:
        return f"CSAT fell by {_one(-v)} {points} in the last 90 days{to}"
    if v > 0:
        return f"CSAT rose by {_one(v)} {points} in the last 90 days{to}"
    return "CSAT held steady in the last 90 days" + (f" at {m90:.1f}/5" if m90 is not None else "")


def _csat(f: str, v: float, row: Row, direction: str) -> str:
    if f == "csat_last":
        return _csat_last(v, row)
    if f == "csat_gap":
        if (last := _get(row, "csat_last")) is not None:
            return _csat_last(last, row, gap=v)
        word = "below" if v < 0 else "above"
        points = "point" if _one(abs(v)) == "1" else "points"
        return f"The last CSAT was {_one(abs(v))} {points} {word} the customer's earlier average"
    count = _get(row, "csat_count")
    if f == "csat_mean":
        if count == 1 and (last := _get(row, "csat_last")) is not None:
            return _csat_last(last, row)  # one answer: the mean is the last answer
        over = f" over {_n(count, 'answer')}" if count else ""
        return f"Has given an average CSAT of {v:.1f}/5{over}: {_mood(v)}"
    if f == "csat_trend_90d":
        return _csat_trend(v, _get(row, "csat_mean_90d"))
    if f == "csat_mean_90d":
        if (t := _get(row, "csat_trend_90d")) is not None:
            return _csat_trend(t, v)
        return f"Has given an average CSAT of {v:.1f}/5 in the last 90 days: {_mood(v)}"
    if f == "csat_min_365d":
        return (f"Gave a CSAT as low as {_fmt(v)}/5 in the last year" if direction == "up"
                else f"Gave no CSAT below {_fmt(v)}/5 in the last year")
    if f == "csat_count":
        if v == 0:
            return _missing_sentence("csat_last", row)
        return f"Has answered {_n(v, 'CSAT survey')}"
    return _generic(f, v, row, direction)


def _nps_group(x: float) -> str:
    return "detractor" if x <= 6 else "passive" if x <= 8 else "promoter"


def _nps_last(last: float, row: Row) -> str:
    count, mean = _get(row, "nps_count"), _get(row, "nps_mean")
    group = _nps_group(last)
    if count is not None and mean is not None and count > 1:
        prev = (mean * count - last) / (count - 1)
        if prev > last + 0.05:
            return f"Last NPS {_fmt(last)}/10 (a {group}), down from an average of {prev:.1f}"
    return f"Last NPS {_fmt(last)}/10: a {group}"


def _nps(f: str, v: float, row: Row, direction: str) -> str:
    if f == "nps_last":
        return _nps_last(v, row)
    count = _get(row, "nps_count")
    last = _get(row, "nps_last")
    if f == "nps_mean":
        if count == 1 and last is not None:
            return _nps_last(last, row)
        over = f" over {_n(count, 'answer')}" if count else ""
        return f"Has given an average NPS of {v:.1f}/10{over}"
    if f == "detractor_share":
        if v == 0:
            return "Has never given a detractor NPS score (0-6)"
        if count == 1 and last is not None:
            return _nps_last(last, row)
        if count:
            k = round(v * count)
            were = "was a detractor score" if k == 1 else "were detractor scores"
            return f"{_fmt(k)} of {_fmt(count)} NPS answers {were} (0-6)"
        return f"{round(v * 100)}% of NPS answers were detractor scores (0-6)"
    if f == "nps_count":
        if v == 0:
            return _missing_sentence("nps_last", row)
        return f"Has answered {_n(v, 'NPS survey')}"
    return _generic(f, v, row, direction)


def _days_since(f: str, v: float, row: Row, direction: str) -> str:
    """Engagement: days since the last survey answer (a state), or a generic sentence."""
    if f == "days_since_feedback":
        if direction == "up":
            return f"Has not answered a survey for {_days(v)}"
        return ("Answered a survey today" if v == 0 else "Answered a survey yesterday" if v == 1
                else f"Answered a survey {_days(v)} ago")
    return _generic(f, v, row, direction)


# --- service -----------------------------------------------------------------------------

def _tickets(f: str, v: float, row: Row, direction: str) -> str:
    if f == "days_since_ticket":
        return ("Contacted support today" if v == 0 else
                f"Last contacted support {_days(v)} ago")
    prefix = f.rsplit("_", 1)[0]
    if v == 0:
        if _get(row, "days_since_ticket") is None and "days_since_ticket" in _names(row):
            return "Has never opened a support ticket"
        w = _block(prefix, f, v, row)[1]
        return (f"Has made no complaint in the last {w} days" if prefix == "complaints"
                else f"Has opened no support ticket in the last {w} days")
    w = _block(prefix, f, v, row)[0]  # many in a short time says most
    if prefix == "complaints":
        return f"Made {_n(v, 'complaint')} in the last {w} days"
    if prefix == "tickets":
        return f"Opened {_n(v, 'support ticket')} in the last {w} days"
    return _generic(f, v, row, direction)


def _resolution(f: str, v: float, row: Row, direction: str) -> str:
    if f == "slow_tickets_365d":
        if v == 0:
            return "No ticket took over 72 hours to resolve in the last year"
        return f"{_n(v, 'ticket')} took over 72 hours to resolve in the last year"
    if f == "resolution_hours_max_365d":
        return (f"A ticket took {_hours(v)} to resolve in the last year" if direction == "up"
                else f"Every ticket of the last year was resolved within {_hours(v)}")
    if f == "resolution_hours_mean":
        return (f"Support took {_hours(v)} on average to resolve their tickets" if direction == "up"
                else f"Support resolved their tickets in {_hours(v)} on average")
    return _generic(f, v, row, direction)


def _open(f: str, v: float, row: Row, direction: str) -> str:
    if f == "open_ticket_age_days":
        if (k := _get(row, "open_tickets")) is not None and k > 0:
            return _open_text(k, v)
        return f"A support ticket has been open for {_days(v)}"
    if f == "open_tickets":
        return _open_text(v, _get(row, "open_ticket_age_days"))
    return _generic(f, v, row, direction)


def _open_text(count: float, age: float | None) -> str:
    if count == 0:
        return "Has no open support ticket"
    if count == 1:
        return "Has 1 support ticket still open" + (f" after {_days(age)}" if age else "")
    return (f"Has {_fmt(count)} support tickets still open"
            + (f", the oldest for {_days(age)}" if age else ""))


# --- value -------------------------------------------------------------------------------

def _refunds(f: str, v: float, row: Row, direction: str) -> str:
    count = v if f == "refund_count" else _get(row, "refund_count")
    total = v if f == "refund_total" else _get(row, "refund_total")
    if not count and not total:
        return "Has had no refunds" if direction == "up" else "Has never asked for a refund"
    if count:
        return f"Has had {_n(count, 'refund')}" + (f" worth {_fmt(total)} in total" if total else "")
    return f"Has been refunded {_fmt(v)} in total"


def _generic(f: str, v: float, row: Row, direction: str) -> str:
    effect = "which raises risk" if direction == "up" else "which holds risk down"
    return f"{_cap(label(f))} is {_fmt(v)}, {effect}"


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


def _event_silence(f: str, v: float, row: Row) -> tuple[str, float] | None:
    """(days-since feature, its value) when ``f`` = ``v`` is a window with no event that a
    longer silence already covers (``events_30d`` = 0 after 77 days without an event): the
    windows of one silence are one fact, said as the silence."""
    if v != 0 or not f.startswith(("events_", "event_days_")):
        return None
    groups = lookup(f)[1]
    if "w" not in groups:
        return None
    since = "days_since_event" + (f"_{groups['t']}" if groups.get("t") else "")
    if since not in _names(row):
        return None
    days = _get(row, since)  # missing: no such event ever, a silence as long as the history
    return (since, math.nan if days is None else days) \
        if days is None or days >= int(groups["w"]) else None


def _engagement(f: str, v: float, row: Row, direction: str = "up") -> str:
    """Sentences of the event log and of the signs of life; other engagement features (the
    days since feedback) keep their own template."""
    if (silence := _event_silence(f, v, row)) is not None:
        since, days = silence
        return _engagement(since, days, row, direction) if not math.isnan(days) \
            else _missing_event(since) or f"No {label(since)} on record"
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
            f"{'Only ' if v <= 2 and direction == 'up' else ''}{_fmt(v)} {what} in the last {w} days"
    if "w" in groups and (f.startswith("events_") or f.startswith("event_days_")):
        noun = "logged event" if f.startswith("events_") else "active day"
        what = noun + ("s" if v != 1 else "")
        only = "Only " if v <= 2 and direction == "up" else ""
        return f"No {what} in the last {groups['w']} days" if v == 0 else \
            f"{only}{_fmt(v)} {what} in the last {groups['w']} days"
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
        what = f"{_event_word(t)} events" if t is not None else "active days"
        return f"Usually {_fmt(v)} days between {what}"
    return _days_since(f, v, row, direction)


def _engagement_any(f: str, v: float, row: Row, direction: str = "up") -> str:
    """The days since feedback follow the push (a state); the event log's sentences say
    what happened."""
    if f == "days_since_feedback":
        return _days_since(f, v, row, direction)
    return _engagement(f, v, row, direction)


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
    "recency": _recency, "rhythm": _rhythm, "trend": _trend, "frequency": _frequency,
    "monetary": _money, "refunds": _refunds, "csat": _csat, "nps": _nps,
    "engagement": _engagement_any, "tickets": _tickets, "resolution": _resolution,
    "open_tickets": _open, "tenure": _tenure,
}

# What "no value" means for a family (never answered, only one purchase, ...), when
# :func:`_missing_sentence` has nothing more precise.
MISSING: dict[str, str] = {
    "rhythm": "Has made only 1 purchase so far: no buying rhythm yet",
    "recency": "Has no purchase on record",
    "tenure": "Has no purchase on record",
    "monetary": "Has no purchase on record",
    "csat": "Has never answered a CSAT survey",
    "nps": "Has never answered an NPS survey",
    "engagement": "Has never answered a survey",
    "tickets": "Has never opened a support ticket",
    "resolution": "Has no resolved support ticket on record",
    "open_tickets": "Has no open support ticket",
}


def _never_answered(row: Row) -> bool:
    return "days_since_feedback" in _names(row) and _get(row, "days_since_feedback") is None


def _no_tickets(row: Row) -> bool:
    return "days_since_ticket" in _names(row) and _get(row, "days_since_ticket") is None


def _csat_absent(f: str, row: Row, direction: str = "up") -> tuple[str, str]:
    """(fact, sentence) of a missing CSAT column."""
    if _never_answered(row):
        return "survey:none", MISSING["engagement"]
    count = _get(row, "csat_count")
    if _get(row, "csat_last") is None or count == 0:
        return "csat:none", MISSING["csat"]
    if f == "csat_gap":
        return "csat:count", "Has answered only 1 CSAT survey: nothing to compare the last one with"
    if f == "csat_trend_90d" and _get(row, "csat_mean_90d") is not None:
        return "csat:trend", "Has answered CSAT surveys only in the last 90 days: no trend yet"
    # no answer in a window: the widest such window says most; a longer survey silence
    # (days since feedback) already says it
    w = 365 if f == "csat_min_365d" or ("csat_min_365d" in _names(row)
                                         and _get(row, "csat_min_365d") is None) else 90
    since = _get(row, "days_since_feedback")
    if since is not None and since >= w:
        return "survey:recency", _days_since("days_since_feedback", since, row, direction)
    return f"csat:none:{w}", f"Has not answered a CSAT survey in the last {w} days"


def _missing(f: str, row: Row, direction: str = "up") -> tuple[str, str]:
    """(fact, sentence) of a missing value of ``f``."""
    fam = family(f)
    if fam == "csat":
        return _csat_absent(f, row, direction)
    if fam == "nps" or f == "days_since_feedback":
        if _never_answered(row) or f == "days_since_feedback":
            return "survey:none", MISSING["engagement"]
        return "nps:none", MISSING["nps"]
    if fam in ("tickets", "resolution", "open_tickets") and _no_tickets(row):
        return "tickets:none", MISSING["tickets"]
    if fam == "resolution" and f.endswith("_365d"):
        return f"{f}:none", "Has had no resolved support ticket in the last year"
    if fam == "open_tickets":
        return "open", MISSING["open_tickets"]
    if fam == "rhythm":
        # holding risk down, too few purchases is said as a count, not as a shortfall
        freq = _get(row, "frequency")
        up = direction == "up"
        if freq is not None and freq <= 1:
            return _purchase_fact("frequency", freq, row), (
                (MISSING["rhythm"] if up else "1 purchase so far: no buying rhythm yet")
                if freq == 1 else "Has not bought yet: no buying rhythm" if up
                else "No purchase yet: no buying rhythm")
        if freq is not None and f == "gap_std_days":
            few = f"{_n(freq, 'purchase')} so far: too few to judge the buying rhythm"
            return _purchase_fact("frequency", freq, row), f"Has made only {few}" if up else _cap(few)
    if fam in MISSING:
        return f"{fam}:none", MISSING[fam]
    if f == "days_since_signup":
        return f"{f}:none", "Has no signup date on record"
    if fam == "profile":
        return f"{f}:none", f"Has no {label(f)} on record"
    return f"{f}:none", f"{_cap(label(f))} is not on record"


def _missing_sentence(f: str, row: Row) -> str:
    return _missing(f, row)[1]


def _purchase_fact(f: str, v: float, row: Row) -> str:
    if v == 0:
        if _get(row, "recency_days") is not None:
            return "recency"
        return "purchases:0:" + ("ever" if f == "frequency" else _block("n", f, v, row)[1])
    hi = "ever" if f == "frequency" else _block("n", f, v, row, ever="frequency")[1]
    return f"purchases:{v:g}:{hi}"


def _fact_of_value(f: str, v: float, row: Row) -> str:
    """The fact a (non-missing) value states: features saying the same thing share it."""
    fam = family(f)
    if f in ("recency_days", "overdue_ratio"):
        return "recency"
    if f == "days_since_feedback":
        return "survey:recency"
    if f == "frequency" or (fam == "frequency" and f.startswith("n_")):
        return _purchase_fact(f, v, row)
    if f.startswith("spend_") and fam == "monetary":
        if v == 0 and _get(row, "n" + f[len("spend"):]) == 0 and \
                _get(row, "recency_days") is not None:
            return "recency"
        return f"spend:{v:g}:{_block('spend', f, v, row)[1]}"
    if f in ("csat_last", "csat_gap") or (f == "csat_mean" and _get(row, "csat_count") == 1):
        return "csat:last"
    if f in ("csat_mean_90d", "csat_trend_90d"):
        return "csat:90d"
    if f in ("csat_count", "nps_count") and v == 0:
        return _missing(f.replace("_count", "_last"), row)[0]
    if f == "csat_count" and v == 1:
        return "csat:count"
    if f == "nps_last" or (f in ("nps_mean", "detractor_share") and _get(row, "nps_count") == 1
                           and v > 0):
        return "nps:last"
    if f == "days_since_event" or f.startswith("days_since_event_"):
        return "event:silence:" + f[len("days_since_event"):].lstrip("_")
    if (silence := _event_silence(f, v, row)) is not None:
        return "event:silence:" + silence[0][len("days_since_event"):].lstrip("_")
    if f in ("refund_count", "refund_total"):
        return "refunds"
    if f in ("open_tickets", "open_ticket_age_days"):
        return "open"
    if fam == "tickets" and f != "days_since_ticket":
        prefix = f.rsplit("_", 1)[0]
        if v == 0 and _no_tickets(row):
            return "tickets:none"
        return f"{prefix}:{v:g}:{_block(prefix, f, v, row)[1]}"
    return f


def _category(f: str, value: Any, row: Row, direction: str) -> str:
    text = str(value).replace("_", " ")
    if f == "nps_group":
        last = _get(row, "nps_last")
        return _nps_last(last, row) if last is not None else f"Last NPS answer was a {text} score"
    if f == "loyalty_tier":
        return f"Is in the {text} loyalty tier"
    if f == "region":
        return f"Is in the {text} region"
    if f == "channel":
        return f"Came through the {text} channel"
    return f"{_cap(label(f))} is {text}"


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


@functools.lru_cache(maxsize=64)
def _takes_direction(fn: Callable[..., str]) -> bool:
    """Templates written before directions took three arguments; they still work."""
    import inspect

    return len(inspect.signature(fn).parameters) >= 4


def fact_and_sentence(feature: str, value: Any, row: Row | None = None,
                      direction: str = "up") -> tuple[str, str]:
    """The fact ``feature`` = ``value`` states (a key) and its sentence for ``direction``.

    Two features with the same fact say the same thing about the customer (``n_90d`` and
    ``n_180d`` both 1; ``csat_last`` and ``csat_mean`` missing; ``recency_days`` and
    ``overdue_ratio``): a list of reasons keeps one of them.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    row = {} if row is None else row
    x = _num(value)
    if x is None:
        if _is_missing(value):
            if (text := _missing_event(feature)) is not None:  # the event log's own absences
                if feature == "days_since_event" or feature.startswith("days_since_event_"):
                    return _fact_of_value(feature, math.nan, row), text  # the silence's fact
                return f"{feature}:none", text
            if feature == "nps_group" and not _never_answered(row):
                return "nps:none", MISSING["nps"]
            return _missing(feature, row, direction)
        key = "nps:last" if feature == "nps_group" else feature
        return key, _category(feature, value, row, direction)  # a category
    tmpl = TEMPLATES.get(family(feature), _generic)
    text = tmpl(feature, x, row, direction) if _takes_direction(tmpl) \
        else tmpl(feature, x, row)  # type: ignore[call-arg]
    return _fact_of_value(feature, x, row), text


def sentence(feature: str, value: Any, row: Row | None = None, direction: str = "up") -> str:
    """A plain sentence saying what ``feature`` = ``value`` means for this customer.

    ``row`` holds the customer's other features, used for context (usual gap, earlier CSAT,
    the other windows); ``direction`` is ``"up"`` when the feature raises the risk,
    ``"down"`` when it holds the risk down, and the wording follows it.

    >>> sentence("recency_days", 94, {"gap_mean_days": 30.0})
    'Has not bought for 94 days, 3.1× the usual gap of 30 days'
    >>> sentence("recency_days", 3, {"gap_mean_days": 30.0}, "down")
    'Bought 3 days ago, within the usual gap of 30 days'
    >>> sentence("csat_last", 2, {"csat_gap": -2.2})
    'Last CSAT 2/5, down from an average of 4.2'
    >>> sentence("days_since_feedback", 7, {}, "down")
    'Answered a survey 7 days ago'
    >>> sentence("n_90d", 1, {"n_90d": 1, "n_180d": 1, "n_365d": 3})
    'Has made only 1 purchase in the last 180 days'
    >>> sentence("loyalty_tier", "bronze")
    'Is in the bronze loyalty tier'
    """
    return fact_and_sentence(feature, value, row, direction)[1]


def fact(feature: str, value: Any, row: Row | None = None) -> str:
    """The fact ``feature`` = ``value`` states (see :func:`fact_and_sentence`)."""
    return fact_and_sentence(feature, value, row)[0]


# --- levers ------------------------------------------------------------------------------

Actionable = Callable[[str, Any], bool]


def _positive(f: str, v: Any) -> bool:
    x = _num(v)
    return x is not None and x > 0


def _present(f: str, v: Any) -> bool:
    return not _is_missing(v)


def _csat_problem(f: str, v: Any) -> bool:
    x = _num(v)
    if x is None:
        return False
    return x < 0 if f in ("csat_gap", "csat_trend_90d") else x < 3.5


def _nps_problem(f: str, v: Any) -> bool:
    if f == "nps_group":
        return str(v) in ("detractor", "passive")
    x = _num(v)
    if x is None:
        return False
    return x > 0 if f == "detractor_share" else x <= 8


def _ticket_problem(f: str, v: Any) -> bool:
    x = _num(v)
    if x is None:
        return False
    return x <= 90 if f == "days_since_ticket" else x > 0


def _slow(f: str, v: Any) -> bool:
    x = _num(v)
    return x is not None and (x > 0 if f == "slow_tickets_365d" else x > 24)


# When a lever's value is something to act on: a complaint, not "no complaints"; a low CSAT,
# not a missing one (an absence is a state, not a cause). Default: any known value.
ACTIONABLE: dict[str, Actionable] = {
    "csat": _csat_problem, "nps": _nps_problem, "tickets": _ticket_problem,
    "resolution": _slow, "open_tickets": _positive, "refunds": _positive,
    "monetary": _present, "engagement": _present,
}

# What to do about a lever, by feature where the family's advice does not fit.
FEATURE_ACTIONS: dict[str, str] = {
    "csat_mean": "find out what disappoints them",
    "csat_mean_90d": "find out what disappoints them",
    "csat_trend_90d": "find out what changed for them",
    "csat_min_365d": "follow up on that experience",
}

# What to do about a lever, by family (appended to its sentence).
ACTIONS: dict[str, str] = {
    "csat": "follow up on the last experience",
    "nps": "ask what would make them recommend you",
    "tickets": "make sure the issue was solved",
    "resolution": "review how their tickets were handled",
    "open_tickets": "resolve it",
    "refunds": "find out what went wrong",
    "monetary": "check that price and value still fit",
    "engagement": "re-engage them",
}


def actionable(feature: str, value: Any) -> bool:
    """Whether ``feature`` is a lever and ``value`` something to act on."""
    if kind(feature) != "lever":
        return False
    return ACTIONABLE.get(family(feature), _present)(feature, value)


def lever_sentence(feature: str, value: Any, row: Row | None = None) -> tuple[str, str] | None:
    """(fact, sentence) of a lever raising risk, phrased as what to act on; ``None`` if
    ``feature`` is not a lever or ``value`` is nothing to act on.

    >>> lever_sentence("complaints_90d", 2, {"complaints_90d": 2, "complaints_365d": 2})[1]
    'Made 2 complaints in the last 90 days — make sure they were resolved'
    >>> lever_sentence("open_tickets", 2, {"open_ticket_age_days": 9})[1]
    'Has 2 support tickets still open, the oldest for 9 days — resolve them'
    >>> lever_sentence("complaints_90d", 0) is None
    True
    """
    if not actionable(feature, value):
        return None
    key, text = fact_and_sentence(feature, value, row, "up")
    fam = family(feature)
    action = FEATURE_ACTIONS.get(feature) or ACTIONS.get(fam, "look into it")
    if fam == "open_tickets":
        count = _num(value) if feature == "open_tickets" else _get(row or {}, "open_tickets")
        action = "resolve them" if count and count > 1 else "resolve it"
    elif feature.startswith("complaints_"):
        action = "make sure they were resolved" if _num(value) != 1 else "make sure it was resolved"
    return key, f"{text} — {action}"
