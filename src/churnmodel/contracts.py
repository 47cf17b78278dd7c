"""The five input tables and the columns each must (or may) have.

These contracts are the single source of truth for loading, validation, the column
mapping in the config and the documentation. Column names here are *canonical*: a
user's own names are mapped onto them (``[data.transactions] customer_id = "cust"``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableContract:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    datetime_columns: tuple[str, ...]
    numeric_columns: tuple[str, ...]
    text_columns: tuple[str, ...]  # free text, kept as strings
    label_columns: tuple[str, ...] = ()  # few distinct values: kept as pandas categoricals
    mandatory: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


TRANSACTIONS = TableContract(
    name="transactions",
    required=("customer_id", "ts", "amount"),
    # unit_price: with quantity, it stands in for an unmapped amount (amount = quantity x
    # unit_price, as in order-line logs such as Online Retail); it is not kept after loading
    optional=("order_id", "category", "channel", "quantity", "unit_price"),
    datetime_columns=("ts",),
    numeric_columns=("amount", "quantity", "unit_price"),
    text_columns=("order_id",),
    label_columns=("category", "channel"),
    mandatory=True,
)
FEEDBACK = TableContract(
    name="feedback",
    required=("customer_id", "ts"),
    optional=("csat", "nps", "comment"),
    datetime_columns=("ts",),
    numeric_columns=("csat", "nps"),
    text_columns=("comment",),
)
TICKETS = TableContract(
    name="tickets",
    required=("customer_id", "opened_ts"),
    optional=("resolved_ts", "category", "is_complaint"),
    datetime_columns=("opened_ts", "resolved_ts"),
    numeric_columns=(),
    text_columns=(),
    label_columns=("category",),
)
CUSTOMERS = TableContract(
    name="customers",
    required=("customer_id",),
    # churned: a Yes/No flag for snapshot mode (a customers table without purchase logs)
    optional=("signup_ts", "region", "channel", "loyalty_tier", "churned_ts", "value", "churned"),
    datetime_columns=("signup_ts", "churned_ts"),
    numeric_columns=("value",),
    text_columns=(),
    label_columns=("region", "channel", "loyalty_tier"),
)

# Engagement logs: logins, app sessions, page views, email opens (``event_type`` is the
# user's own text); ``value`` is an optional non-negative measure such as session minutes.
EVENTS = TableContract(
    name="events",
    required=("customer_id", "ts", "event_type"),
    optional=("value",),
    datetime_columns=("ts",),
    numeric_columns=("value",),
    text_columns=(),
    label_columns=("event_type",),
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (TRANSACTIONS, FEEDBACK, TICKETS, CUSTOMERS, EVENTS)
}

# Valid ranges of satisfaction scores (inclusive).
CSAT_RANGE = (1, 5)
NPS_RANGE = (0, 10)
