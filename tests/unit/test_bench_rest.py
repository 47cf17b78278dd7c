"""The REST stage's arithmetic on hand-made cells (the servers themselves run in `churnmodel
bench --stages rest`, which starts processes and takes minutes)."""

from __future__ import annotations

import json

import pandas as pd

from churnmodel.bench.rest import churnmodel_body, format_rest, rest_targets


def _cell(server, workers, rows, clients, rps, p50, p99=None, errors=0):
    return {"server": server, "workers": workers, "rows_per_request": rows, "clients": clients,
            "requests_per_second": rps, "p50_ms": p50, "p99_ms": p99 or 2 * p50, "errors": errors,
            "requests": 100}


CELLS = [_cell("churnmodel", 1, 1, 1, 50.0, 18.0), _cell("anchor", 1, 1, 1, 110.0, 9.0),
         _cell("churnmodel", 2, 1, 8, 160.0, 45.0)]


def test_targets_compare_the_served_p50_with_the_bare_booster_and_check_throughput():
    p50, rps = rest_targets(CELLS)
    assert p50["value"] == 2.0 and p50["met"] is True  # 18 ms vs 9 ms: exactly the 2x limit
    assert rps["value"] == 160.0 and rps["met"] is True


def test_a_target_without_its_cell_is_not_measured_rather_than_missed():
    p50, rps = rest_targets(CELLS[:1])
    assert p50["met"] is None and rps["met"] is None


def test_the_table_has_one_line_per_server_workers_and_size_and_marks_errors():
    cells = [*CELLS, _cell("anchor", 1, 1, 8, 300.0, 20.0, errors=3)]
    lines = format_rest({"cells": cells, "seconds_per_cell": 8.0, "max_requests_per_cell": 5000,
                         "targets": rest_targets(cells)})
    assert lines[0].startswith("REST on 127.0.0.1")
    body = [ln for ln in lines if ln.startswith(("  churnmodel serve", "  bare booster"))]
    assert len(body) == 3  # (churnmodel, 1 worker), (churnmodel, 2 workers), (anchor, 1 worker)
    assert "!" in body[-1] and any("some requests failed" in ln for ln in lines)
    assert lines[-2].endswith(": met") and lines[-1].endswith(": met")


def test_request_bodies_keep_exact_floats_and_send_missing_values_as_null():
    rows = pd.DataFrame({"customer_id": [7], "x": [0.1 + 0.2], "y": [float("nan")]})
    body = json.loads(churnmodel_body(rows))["dataframe_split"]
    assert body["columns"] == ["customer_id", "x", "y"]
    assert body["data"] == [[7, 0.30000000000000004, None]]
