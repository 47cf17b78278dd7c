"""A generated customers table of the telecom-churn shape, for snapshot mode.

One row per customer, the columns of the public telco customer churn table (customerID,
19 attributes, Churn Yes/No), with its quirks: ``SeniorCitizen`` as 0/1 integers,
"No phone service" / "No internet service" levels, ``TotalCharges`` as text with a blank
string for customers of tenure 0. The hidden churn model raises risk for month-to-month
contracts, fibre, electronic checks, short tenure, paperless billing and seniors, and
lowers it for security and support add-ons, partners and long contracts; the churn rate
is about 26 %.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ADDONS = ("OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
          "StreamingMovies")
PAYMENT = ("Electronic check", "Mailed check", "Bank transfer (automatic)",
           "Credit card (automatic)")


def _yes(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "Yes", "No")


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        s = f"{rng.integers(0, 10_000):04d}-{''.join(rng.choice(letters, 5))}"
        if s not in seen:
            seen.add(s)
            out.append(s)
    return np.asarray(out)


def snapshot_table(customers: int = 7043, seed: int = 42) -> tuple[pd.DataFrame, np.ndarray]:
    """The table (Churn as Yes/No text) and the hidden churn probability of each row."""
    rng = np.random.default_rng(seed)
    n = customers
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.21, 0.24])
    mean_tenure = np.select([contract == "Month-to-month", contract == "One year"], [16.0, 40.0], 55.0)
    tenure = np.minimum(72, 1 + np.floor(rng.exponential(mean_tenure))).astype(int)
    tenure[rng.random(n) < 0.0016] = 0  # brand-new customers: nothing billed yet
    senior = (rng.random(n) < 0.16).astype(int)
    partner = rng.random(n) < 0.48
    dependents = partner & (rng.random(n) < 0.6) | (~partner & (rng.random(n) < 0.08))
    phone = rng.random(n) < 0.9
    multiple = np.where(phone, _yes(rng.random(n) < 0.47), "No phone service")
    internet = rng.choice(["DSL", "Fiber optic", "No"], n, p=[0.34, 0.44, 0.22])
    has_net = internet != "No"
    addons = {}
    for i, name in enumerate(ADDONS):
        share = (0.29, 0.34, 0.34, 0.29, 0.38, 0.39)[i] / 0.78
        addons[name] = np.where(has_net, _yes(rng.random(n) < share), "No internet service")
    paperless = rng.random(n) < 0.59
    payment = rng.choice(PAYMENT, n, p=[0.34, 0.23, 0.22, 0.21])
    monthly = (20.0 + 5.0 * phone + 5.0 * (multiple == "Yes")
               + np.select([internet == "DSL", internet == "Fiber optic"], [25.0, 45.0], 0.0)
               + sum(5.0 * (addons[a] == "Yes") for a in ADDONS)
               + rng.normal(0, 2.0, n))
    monthly = np.round(np.maximum(monthly, 18.25), 2)
    total = np.round(monthly * tenure * rng.normal(1.0, 0.03, n), 2)

    logit = (-1.9 + 1.45 * (contract == "Month-to-month") - 0.9 * (contract == "Two year")
             + 0.85 * (internet == "Fiber optic") - 0.55 * (internet == "No")
             + 0.6 * (payment == "Electronic check") - 0.035 * tenure
             + 0.9 * (tenure <= 3) + 0.35 * senior + 0.3 * paperless
             - 0.45 * (addons["OnlineSecurity"] == "Yes") - 0.4 * (addons["TechSupport"] == "Yes")
             + 0.15 * (addons["StreamingMovies"] == "Yes") - 0.2 * partner - 0.15 * dependents
             + 0.008 * (monthly - 65.0))
    p = 1.0 / (1.0 + np.exp(-logit))
    churn = rng.random(n) < p
    df = pd.DataFrame({
        "customerID": _ids(rng, n),
        "gender": rng.choice(["Female", "Male"], n),
        "SeniorCitizen": senior,
        "Partner": _yes(partner), "Dependents": _yes(dependents),
        "tenure": tenure,
        "PhoneService": _yes(phone), "MultipleLines": multiple,
        "InternetService": internet,
        **addons,
        "Contract": contract,
        "PaperlessBilling": _yes(paperless),
        "PaymentMethod": payment,
        "MonthlyCharges": monthly,
        # the public file stores this as text, with a single space where nothing was billed
        "TotalCharges": np.where(tenure == 0, " ", np.char.mod("%.2f", np.maximum(total, 0.0))),
        "Churn": _yes(churn),
    })
    return df, p


def write_snapshot(out, customers: int = 7043, seed: int = 42,
                   to_score: int | None = None) -> dict[str, Any]:
    """Write ``customers.csv`` (labelled), ``customers_to_score.csv`` (blank Churn, other
    customers, seed + 1), the truth of the latter, and two configs using them.

    CSVs are written with CRLF line ends, like spreadsheet exports.
    """
    from pathlib import Path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train, _ = snapshot_table(customers, seed)
    n_new = to_score if to_score is not None else max(10, customers // 5)
    new, p_new = snapshot_table(n_new, seed + 1)
    truth = pd.DataFrame({"customerID": new["customerID"], "Churn": new["Churn"],
                          "p_churn": p_new})
    new = new.assign(Churn="")
    paths = {}
    for name, frame in (("customers.csv", train), ("customers_to_score.csv", new),
                        ("customers_to_score_truth.csv", truth)):
        frame.to_csv(out / name, index=False, lineterminator="\r\n")
        paths[name] = out / name
    # one project: the scoring config scores with the model the training config trained
    common = ('[project]\nname = "snapshot"\n[output]\nmodel_dir = "model"\nreport_dir = "reports"\n'
              '[tracking]\nexperiment = "churnmodel-snapshot"\nmodel_name = "churnmodel-snapshot"\n')
    (out / "snapshot.toml").write_text(
        '# snapshot mode: one row per customer with a Yes/No churn flag, no purchase log\n'
        '[data.customers]\npath = "customers.csv"\ncustomer_id = "customerID"\n'
        'churned = "Churn"\n' + common)
    (out / "scoring.toml").write_text(
        '# score other customers (same columns) with the model trained by snapshot.toml\n'
        '[data.customers]\npath = "customers_to_score.csv"\ncustomer_id = "customerID"\n'
        'churned = "Churn"\n' + common)
    paths["snapshot.toml"], paths["scoring.toml"] = out / "snapshot.toml", out / "scoring.toml"
    return {"paths": paths, "customers": customers, "to_score": n_new,
            "churn_rate": float((train["Churn"] == "Yes").mean())}
