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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnmodel.serving.app import ASGIApp, Receive, Scope, Send, read_body, replaying

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


def _string(values: Sequence[Any]) -> pd.Series | None:
    if not all(type(v) is str or v is None for v in values):
        return None
    if all(v is None for v in values):  # pandas keeps an all-null column as objects
        return pd.Series(list(values), dtype=object)
    return pd.Series(list(values), dtype="str")


_CONVERT = {"double": _double, "long": _long, "string": _string}


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


def frame_from_json(body: bytes, spec: InputSpec) -> pd.DataFrame | None:
    """The frame MLflow's parsing and signature enforcement make of ``body``, or ``None``
    when the body is anything but the plain case (MLflow then handles it)."""
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
            col = _CONVERT[spec.types[name]](given[name])
            if col is None:
                return None
            out[name] = col
    return pd.DataFrame(out)


class FastInvocations:
    """ASGI: plain JSON requests to ``/invocations`` scored directly by the loaded pyfunc
    (same ``predict``, same serialiser); every other request goes to ``app``."""

    def __init__(self, app: ASGIApp, model: Any, timeout: float | None = None) -> None:
        self.app, self.model = app, model
        schema = model.metadata.get_input_schema()
        self.spec = InputSpec(schema) if schema is not None and schema.has_input_names() else None
        self.timeout = timeout

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
        assert self.spec is not None
        frame = frame_from_json(body, self.spec)
        answer = None
        if frame is not None:
            try:
                if len(frame) <= INLINE_ROWS:
                    answer = self.answer(frame)
                else:
                    answer = await asyncio.wait_for(asyncio.to_thread(self.answer, frame),
                                                    self.timeout)
            except (asyncio.TimeoutError, TimeoutError):  # MLflow's timeout answer
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
