"""Plots one bench-driver result (JSON) as throughput ratios to Envoy without auth.

usage: python plot.py [RESULT.json]   (default: the newest bench/results/*.json)
Writes RESULT.png beside the JSON.
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
scenarios = [s for s in ["rs256-repeated", "rs256-distinct", "es384-repeated", "es384-distinct"]
             if any(x["scenario"] == s for x in data["samples"])]
listeners = [l for l in ["wasm_empty", "wasm_floor", "native", "native_cache", "wasm_public", "wasm"]
             if any(s["listener"] == l for s in data["samples"])]
labels = {"wasm_empty": "empty Wasm filter (floor)",
          "wasm_floor": "Wasm filter making only a bearer filter's host calls (floor of any JWT filter)", "native": "native jwt_authn",
          "native_cache": "native jwt_authn + jwt_cache_config",
          "wasm_public": "jwt-authn-wasm, public route (no token work)", "wasm": "jwt-authn-wasm"}
rps = {(s["round"], s["scenario"], s["listener"]): s["rps"] for s in data["samples"]}


def ratio(scenario, listener):
    values = [rps[(r, scenario, listener)] / rps[(r, scenario, "noauth")]
              for r in range(1, data["rounds"] + 1)
              if (r, scenario, listener) in rps and (r, scenario, "noauth") in rps]
    return (statistics.median(values), min(values), max(values)) if values else (0, 0, 0)


fig, ax = plt.subplots(figsize=(11, 5.8))
width = 0.8 / len(listeners)
top = 1.15
for i, listener in enumerate(listeners):
    meds, lows, highs = zip(*(ratio(s, listener) for s in scenarios))
    top = max(top, max(highs) + 0.08)
    xs = [j + (i - (len(listeners) - 1) / 2) * width for j in range(len(scenarios))]
    ax.bar(xs, meds, width, label=labels[listener],
           yerr=[[m - lo for m, lo in zip(meds, lows)], [hi - m for m, hi in zip(meds, highs)]], capsize=3)
    for x, m in zip(xs, meds):
        ax.text(x, m + 0.02, f"{m:.2f}", ha="center", fontsize=7)
ax.axhline(1.0, color="grey", lw=0.8, ls="--")
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
