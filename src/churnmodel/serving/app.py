"""The REST app ``churnmodel serve`` runs: MLflow's scoring server behind a request guard,
with a lean path for plain JSON requests (:mod:`churnmodel.serving.fastpath`).

MLflow's server parses a JSON body with ``json.loads``, which recurses once per level of
nesting: a body of ten thousand nested arrays raises RecursionError and answers HTTP 500.
The guard answers such bodies (and oversized ones) with a 4xx *before* MLflow parses
them; everything else reaches MLflow's app unchanged.

Limits: ``CHURNMODEL_MAX_REQUEST_BYTES`` (default 64 MB) and
``CHURNMODEL_MAX_JSON_DEPTH`` (default 32; a ``dataframe_split`` body needs 4).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np

from churnmodel.serving.asgi import TOO_BIG, ASGIApp, Receive, Scope, Send, read_body, replaying

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(body: bytes) -> int:
    """How deeply ``[`` / ``{`` nest in a JSON text (brackets inside strings ignored),
    measured without parsing, so no depth can exhaust the stack.

    >>> json_depth(b'{"dataframe_split": {"columns": ["a"], "data": [[1]]}}')
    4
    >>> json_depth(b'["[[[", 1]')
    1
    >>> json_depth(b"[" * 100000)
    100000
    """
    code = np.frombuffer(_STRING.sub(b"", body), dtype=np.uint8)
    if code.size == 0:
        return 0
    step = (((code == 91) | (code == 123)).astype(np.int32)
            - ((code == 93) | (code == 125)).astype(np.int32))
    return int(max(np.cumsum(step).max(), 0))


class RequestGuard:
    """ASGI middleware: a ``/invocations`` body larger than ``max_bytes`` gets 413, JSON
    nested deeper than ``max_depth`` gets 400; both with a JSON message like MLflow's."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app, self.max_bytes, self.max_depth = app, max_bytes, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != "/invocations":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, f"request body of {int(declared):,} bytes exceeds the limit "
                         f"of {self.max_bytes:,} (CHURNMODEL_MAX_REQUEST_BYTES); send smaller "
                         "batches")
            return
        body = await read_body(receive, self.max_bytes)
        if body is None:  # the client went away
            return
        if body is TOO_BIG:
            await _reply(send, 413, f"request body exceeds the limit of {self.max_bytes:,} "
                         "bytes (CHURNMODEL_MAX_REQUEST_BYTES); send smaller batches")
            return
        if "json" in headers.get("content-type", "json") and json_depth(body) > self.max_depth:
            await _reply(send, 400, f"JSON nested more than {self.max_depth} levels deep; send "
                         '{"dataframe_split": {"columns": [...], "data": [[...], ...]}} or '
                         '{"dataframe_records": [{...}, ...]}')
            return
        await self.app(scope, replaying(body, receive), send)



async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error_code": "BAD_REQUEST", "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def guarded(app: ASGIApp) -> RequestGuard:
    """``app`` behind the guard, with the limits of the environment."""
    return RequestGuard(app, int(os.environ.get("CHURNMODEL_MAX_REQUEST_BYTES", 64 * 2**20)),
                        int(os.environ.get("CHURNMODEL_MAX_JSON_DEPTH", 32)))


def __getattr__(name: str) -> Any:
    # ``uvicorn churnmodel.serving.app:app`` builds the app on first access, never at import
    if name == "app":
        from mlflow.pyfunc import scoring_server

        from churnmodel.serving.fastpath import FastInvocations

        model = scoring_server.load_model_with_mlflow_config(
            os.environ[scoring_server._SERVER_MODEL_PATH])
        timeout = float(scoring_server.MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.get())
        globals()["app"] = guarded(FastInvocations(scoring_server.init(model), model, timeout))
        return globals()["app"]
    raise AttributeError(name)
