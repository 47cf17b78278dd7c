"""A lean ``/invocations`` for the requests a churn server really gets.

MLflow's scoring server turns a JSON body into the model's input in three passes: pandas
builds a frame from the rows (an object array, types inferred per column), casts every
column to the signature's type one ``astype`` at a time, then enforces the signature
again in ``PyFuncModel.predict``, column by column. For a 1-row request of 49 features
that was about two thirds of the server's time (profiled, see README, Serving).

Here a request in the two common shapes, ``{"dataframe_split": {"columns": [...],
"data": [[...], ...]}}`` and ``{"dataframe_records": [{...}, ...]}``, whose values already
have the signature's types (numbers or null for ``double``, integers for ``long``, text
or null for ``string``) is turned into the very frame MLflow would pass on, in one pass,
and handed to the same pyfunc ``predict``; the answer is serialised by MLflow's own
``predictions_to_json``. Anything else — other shapes (``inputs``, ``instances``,
``params``, CSV), unknown or missing columns, values of another type, a failing
prediction — goes to MLflow's app unchanged, which answers (or refuses) it exactly as
before. Tests compare the two paths frame for frame and byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.serving.asgi import ASGIApp, Receive, Scope, Send, read_body, replaying

_JSON_TYPES = {"application/json", "application/json; charset=utf-8"}
_EXACT_INT = 2**53  # beyond it an integer is not one exact double: leave it to MLflow
_INT64 = 2**63
# Requests up to this many rows are scored on the event loop (about a millisecond);
# larger ones in a thread, like MLflow does, so /ping and other clients keep answering.
INLINE_ROWS = 64


class InputSpec:
    """The signature's named columns: their order, types and which are required."""

    def __init__(self, schema: Any) -> None:
        self.names: list[str] = list(schema.input_names())
        self.types: dict[str, str] = {c.name: getattr(c.type, "name", "") for c in schema.inputs}
        self.required = frozenset(schema.required_input_names())

    def usable(self) -> bool:
        """Only plain double / long / string columns are handled here."""
        return bool(self.names) and all(t in ("double", "long", "string")
                                        for t in self.types.values())


def _double(values: Sequence[Any]) -> np.ndarray | None:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = math.nan
        elif type(v) is float:
            out[i] = v
        elif type(v) is int and -_EXACT_INT < v < _EXACT_INT:
            out[i] = v
        else:
            return None
    return out


def _long(values: Sequence[Any]) -> np.ndarray | None:
    if not all(type(v) is int and -_INT64 <= v < _INT64 for v in values):
        return None
    return np.array(values, dtype=np.int64)


def _string(values: Sequence[Any]) -> pd.Series:
    if all(v is None for v in values):  # pandas keeps an all-null column as objects
        return pd.Series(list(values), dtype=object)
    return pd.Series(list(values), dtype="str")


_CONVERT = {"double": _double, "long": _long}


def columns_of(doc: Any) -> tuple[list[Any], list[Sequence[Any]]] | None:
    """Column names and per-column values of a ``dataframe_split`` / ``dataframe_records``
    body, or ``None`` for any other shape."""
    if not isinstance(doc, dict) or len(doc) != 1:
        return None
    key, val = next(iter(doc.items()))
    if key == "dataframe_split":
        if not isinstance(val, dict) or val.keys() != {"columns", "data"}:
            return None
        names, rows = val["columns"], val["data"]
        if not isinstance(names, list) or not isinstance(rows, list) or not rows:
            return None
        if not all(type(r) is list and len(r) == len(names) for r in rows):
            return None
        return names, list(zip(*rows, strict=True))
    if key == "dataframe_records":
        if not isinstance(val, list) or not val or not all(type(r) is dict for r in val):
            return None
        names = list(val[0])
        keys = val[0].keys()
        if not all(r.keys() == keys for r in val):
            return None
        return names, [tuple(r[c] for r in val) for c in names]
    return None


def columns_from_json(body: bytes, spec: InputSpec) -> dict[str, Any] | None:
    """The columns MLflow's parsing and signature enforcement make of ``body`` (in the
    signature's order), or ``None`` when the body is anything but the plain case (MLflow
    then handles it). Text columns stay the request's values (``str`` or ``None``)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    parsed = columns_of(doc)
    if parsed is None:
        return None
    names, values = parsed
    given = dict(zip(names, values, strict=True))
    if len(given) != len(names) or not spec.required <= given.keys() or not given.keys() <= set(
            spec.names):
        return None
    out: dict[str, Any] = {}
    for name in spec.names:  # MLflow's enforcement returns the signature's column order
        if name in given:
            kind = spec.types[name]
            if kind == "string":
                if not all(type(v) is str or v is None for v in given[name]):
                    return None
                out[name] = given[name]
                continue
            col = _CONVERT[kind](given[name])
            if col is None:
                return None
            out[name] = col
    return out


def frame_of(columns: dict[str, Any], spec: InputSpec) -> pd.DataFrame:
    """The pandas frame of :func:`columns_from_json`'s columns, dtypes as MLflow's."""
    return pd.DataFrame({c: _string(v) if spec.types[c] == "string" else v
                         for c, v in columns.items()})


def frame_from_json(body: bytes, spec: InputSpec) -> pd.DataFrame | None:
    """The frame MLflow's parsing and signature enforcement make of ``body``, or ``None``."""
    columns = columns_from_json(body, spec)
    return None if columns is None else frame_of(columns, spec)


class LeanScorer:
    """The answer for requests in which nobody is at risk, from arrays, without pandas.

    Such rows need no explanation: their answer is the id, probability, band, state,
    ``false``, action and nulls for the drivers and levers. They are computed with the
    champion's own pieces (the LightGBM matrix of :meth:`ChurnModel.design`, its calibrator,
    the bands of :func:`~churnmodel.risk.risk_band`, the trained threshold and the decision
    policy), so the numbers are the pyfunc's. The rest of the answer's columns are learnt
    from the pyfunc's own answer, and the first :data:`CHECKS` answers of each request shape
    (with or without ``customer_id``) are computed both ways: one difference (say a new
    output column that is not null for these rows) turns this scorer off for good, and the
    pyfunc answers everything.
    """

    CHECKS = 3

    def __init__(self, pyfunc_model: Any) -> None:
        self.model: Any = getattr(pyfunc_model.unwrap_python_model(), "model", None)
        m = self.model
        levels = getattr(getattr(getattr(m, "candidate", None), "booster_", None),
                         "pandas_categorical", None) or []
        cats = [c for c in getattr(m, "feature_names", []) if c in getattr(m, "categories", {})]
        # CHURNMODEL_LEAN_REST=0 turns it off (MLflow's app then answers every request)
        self.on = (os.environ.get("CHURNMODEL_LEAN_REST", "1") != "0"
                   and m is not None and hasattr(m.candidate, "booster_") and len(levels) == len(cats)
                   and all(list(lv) == list(m.categories[c])
                           for c, lv in zip(cats, levels, strict=True)))
        # per request shape (with or without customer_id): the pyfunc's answer columns,
        # learnt from its first answer, and how many lean answers were checked against it
        self.learnt: dict[bool, list[str]] = {}
        self.checks: dict[bool, int] = {}

    def predictions(self, columns: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Answer records, or ``None`` if a row is at risk (or the scorer is off)."""
        from churnmodel.decisions import decide, state_of
        from churnmodel.modeling.model import _levels
        from churnmodel.risk import DEFAULT_BANDS, band_codes, band_names
        from churnmodel.serving.pyfunc import max_request_rows

        m = self.model
        answer_columns = self.learnt.get("customer_id" in columns)
        if not self.on or answer_columns is None or m is None:
            return None
        n = len(next(iter(columns.values())))
        limit = max_request_rows()
        if limit and n > limit:  # the pyfunc refuses it, with its message
            return None
        X = np.empty((n, len(m.feature_names)), dtype=np.float64)
        for j, name in enumerate(m.feature_names):
            if name in m.categories:
                code = _levels(tuple(m.categories[name]))[1]
                X[:, j] = [code.get(v, math.nan) if v is not None else math.nan
                           for v in columns[name]]
            else:
                X[:, j] = columns[name]
        sc = m.info.get("scoring", {})
        p = m.calibrator.predict(np.asarray(m.candidate.raw_score(X), dtype=np.float64))
        # the state and action exactly as risk_frame decides them (churnmodel.decisions)
        pol = m.policy()
        nan = np.full(n, math.nan)

        def numbers(name: str) -> np.ndarray:
            if name not in columns:
                return nan
            return np.array([math.nan if v is None else v for v in columns[name]], dtype=float)

        state = (state_of(numbers("recency_days"), numbers("gap_mean_days"), pol.horizon_days,
                          pol.typical_gap_days, pol.lapsing_factor)
                 if "recency_days" in m.feature_names else np.full(n, "active", dtype=object))
        value = numbers("customer_value") if "customer_value" in columns else None
        at_risk, action = decide(p, state, value, pol)
        if at_risk.any() or (action == "win back").any():  # explained: the pyfunc answers
            return None
        edges = sc.get("risk_bands", DEFAULT_BANDS)
        names = band_names(edges)
        band = [names[k] for k in band_codes(p, edges).tolist()]
        ids = columns["customer_id"].tolist() if "customer_id" in columns else None
        out = []
        for i, pi in enumerate(p.tolist()):
            known = {"churn_probability": pi, "risk_band": band[i], "state": str(state[i]),
                     "at_risk": False, "action": str(action[i])}
            if ids is not None:
                known["customer_id"] = ids[i]
            out.append({c: known.get(c) for c in answer_columns})
        return out

    def answer(self, columns: dict[str, Any], slow: Any) -> bytes:
        """The lean answer when it applies, else ``slow()`` (the pyfunc's answer bytes);
        while checking, both, and the pyfunc's wins."""
        shape = "customer_id" in columns
        if self.on and shape not in self.learnt:  # learn the answer's columns from the pyfunc
            first = slow()
            self.learnt[shape] = list(json.loads(first)["predictions"][0])
            return first
        records = self.predictions(columns)
        if records is None:
            return slow()
        lean = json.dumps({"predictions": records}).encode()
        if self.checks.get(shape, 0) < self.CHECKS:
            reference = slow()
            self.checks[shape] = self.checks.get(shape, 0) + 1
            if reference != lean:
                self.on = False
            return reference
        return lean


class FastInvocations:
    """ASGI: plain JSON requests to ``/invocations`` scored directly by the loaded pyfunc
    (same ``predict``, same serialiser); every other request goes to ``app``."""

    def __init__(self, app: ASGIApp, model: Any, timeout: float | None = None) -> None:
        self.app, self.model = app, model
        schema = model.metadata.get_input_schema()
        self.spec = InputSpec(schema) if schema is not None and schema.has_input_names() else None
        self.timeout = timeout
        self.lean = LeanScorer(model)

    def enabled(self) -> bool:
        return self.spec is not None and self.spec.usable()

    def answer(self, frame: pd.DataFrame) -> bytes:
        """The pyfunc's prediction for ``frame``, as MLflow's server serialises it."""
        from io import StringIO

        from mlflow.pyfunc.scoring_server import predictions_to_json

        # the implementation's predict: what PyFuncModel.predict calls after enforcing the
        # signature, which frame_from_json has already done
        out = self.model._model_impl.predict(frame, params=None)
        buf = StringIO()
        predictions_to_json(out, buf)
        return buf.getvalue().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("path") != "/invocations"
                or scope.get("method") != "POST" or not self.enabled()):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        if headers.get(b"content-type", b"").decode("latin-1").lower() not in _JSON_TYPES:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away
            return
        spec = self.spec
        assert spec is not None
        columns = columns_from_json(body, spec)
        answer = None
        if columns is not None:
            try:
                if len(next(iter(columns.values()))) <= INLINE_ROWS:
                    answer = self.lean.answer(columns, lambda: self.answer(frame_of(columns, spec)))
                else:
                    answer = await asyncio.wait_for(
                        asyncio.to_thread(self.answer, frame_of(columns, spec)), self.timeout)
            except TimeoutError:  # MLflow's timeout answer
                await _send(send, 504, b"Request processing time exceeded limit")
                return
            except Exception:  # MLflow's app answers with its own error message
                answer = None
        if answer is None:
            await self.app(scope, replaying(body, receive), send)
            return
        await _send(send, 200, answer)


async def _send(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
