"""Plots one bench-driver result (JSON) as throughput ratios to Envoy without auth.

usage: python plot.py [RESULT.json]   (default: the newest bench/results/*.json)
Writes RESULT.png beside the JSON (the four scenarios every run has and the DPoP scenario, where
the run has them; a note when it has none), and RESULT-algorithms.png
when the run has per-algorithm distinct-token scenarios: each algorithm's throughput ÷ native
jwt_authn with `crypto: auto` and with the other backend, the filter's cache off (`wasm_uncached`,
`wasm_crypto_*`).
"""
import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

path = sys.argv[1] if len(sys.argv) > 1 else max(glob.glob("bench/results/*.json"), key=os.path.getmtime)
data = json.load(open(path))
scenarios = [s for s in ["rs256-repeated", "rs256-distinct", "es384-repeated", "es384-distinct", "es256-dpop"]
             if any(x["scenario"] == s for x in data["samples"])]
# The DPoP scenario's two filter listeners are drawn there only (wasm_uncached also runs in the
# distinct-token scenarios, where this figure has never shown it).
only_in = {"wasm_uncached": {"es256-dpop"}, "wasm_dpop": {"es256-dpop"}}
listeners = [l for l in ["wasm_empty", "wasm_floor", "native", "native_cache", "wasm_public", "wasm",
                         "wasm_uncached", "wasm_dpop"]
             if any(s["listener"] == l and s["scenario"] in scenarios and s["scenario"] in only_in.get(l, scenarios)
                    for s in data["samples"])]
labels = {"wasm_uncached": "jwt-authn-wasm, cache off: a plain cold request (bearer)",
          "wasm_dpop": "jwt-authn-wasm, cache off: a DPoP-bound request (token + proof)",
          "wasm_empty": "empty Wasm filter (floor)",
          "wasm_floor": "Wasm filter making only a bearer filter's host calls (floor of any JWT filter)", "native": "native jwt_authn",
          "native_cache": "native jwt_authn + jwt_cache_config",
          "wasm_public": "jwt-authn-wasm, public route (no token work)", "wasm": "jwt-authn-wasm"}
rps = {(s["round"], s["scenario"], s["listener"]): s["rps"] for s in data["samples"]}


def ratio(scenario, listener, base="noauth"):
    values = [rps[(r, scenario, listener)] / rps[(r, scenario, base)]
              for r in range(1, data["rounds"] + 1)
              if (r, scenario, listener) in rps and (r, scenario, base) in rps]
    return (statistics.median(values), min(values), max(values)) if values else (0, 0, 0)


def bars(ax, groups, series, base, only=None):
    """Grouped bars of each series' ratio to `base` per group, with the rounds' spread; a
    series absent from a group (or, with `only`, not in its groups there) leaves a gap."""
    width = 0.8 / len(series)
    top = 1.15
    for i, (listener, label) in enumerate(series):
        xs, meds, lows, highs = [], [], [], []
        for j, group in enumerate(groups):
            if not any(s["scenario"] == group and s["listener"] == listener for s in data["samples"]):
                continue
            if only and group not in only.get(listener, groups):
                continue
            m, lo, hi = ratio(group, listener, base)
            xs.append(j + (i - (len(series) - 1) / 2) * width)
            meds.append(m)
            lows.append(m - lo)
            highs.append(hi - m)
            top = max(top, hi + 0.08)
        if xs:
            ax.bar(xs, meds, width, label=label, yerr=[lows, highs], capsize=3)
            for x, m in zip(xs, meds):
                ax.text(x, m + 0.02, f"{m:.2f}", ha="center", fontsize=7)
    return top


fig, ax = plt.subplots(figsize=(11, 5.8))
if not listeners:
    ax.text(0.5, 0.5, "no scenario of this figure in this run (see the report's tables)", ha="center", va="center")
top = bars(ax, scenarios, [(l, labels[l]) for l in listeners], "noauth", only_in) if listeners else 1.15
ax.axhline(1.0, color="grey", lw=0.8, ls="--")
if any(sc.endswith("-repeated") for sc in scenarios):
    ax.axhline(0.87, color="green", lw=0.8, ls=":", label="goal for a repeated token (0.87)")
ax.set_xticks(range(len(scenarios)))
ax.set_xticklabels(scenarios)
ax.set_ylabel("throughput ÷ Envoy without auth (same round)")
ax.set_ylim(0, top)
ax.set_title(f"Envoy --concurrency 1, wrk -t1 -c16, {data['rounds']} rounds x {data['duration']} s ({data['stamp']})")
ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3)
fig.tight_layout()
out = os.path.splitext(path)[0] + ".png"
fig.savefig(out, dpi=110)
print(f"plot: {out}")

historic = {"rs256-repeated", "rs256-distinct", "es384-repeated", "es384-distinct"}
order = []
for s in data["samples"]:
    if s["scenario"].endswith("-distinct") and s["scenario"] not in order:
        order.append(s["scenario"])
if any(sc not in historic for sc in order):
    fig, ax = plt.subplots(figsize=(12, 5.4))
    series = [("wasm_uncached", "jwt-authn-wasm, crypto: auto (cache off, as native without its cache)"),
              ("wasm_crypto_wasm", "crypto: wasm (where auto calls the host)"),
              ("wasm_crypto_host", "crypto: host (where auto stays in the sandbox)")]
    top = bars(ax, order, series, "native")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="native jwt_authn")
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([sc.split("-")[0].upper().replace("EDDSA", "EdDSA") for sc in order])
    ax.set_ylabel("throughput ÷ native jwt_authn (same round)")
    ax.set_ylim(0, top)
    ax.set_title(f"Distinct tokens per algorithm, {data['rounds']} rounds ({data['stamp']})")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    out = os.path.splitext(path)[0] + "-algorithms.png"
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")
