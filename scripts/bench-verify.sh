#!/usr/bin/env bash
# Runs the criterion verification benchmarks and prints a table: median time per operation and,
# for each algorithm, ratios against raw aws-lc-rs verification measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
cargo bench -q -p oauth-filter --features __internal --bench verify -- "$@" 2>&1 | tee "$out" >/dev/null
python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}
rows = {}
for m in re.finditer(r"^(\S[^\n]*?)\s*\n?\s*time:\s+\[([\d.]+) (\S+) ([\d.]+) (\S+) ([\d.]+) (\S+)\]", text, re.M):
    name = m.group(1).strip()
    rows[name] = (float(m.group(2)) * unit[m.group(3)], float(m.group(4)) * unit[m.group(5)], float(m.group(6)) * unit[m.group(7)])
print(f"| benchmark | median µs (95% CI) | vs raw aws-lc-rs |")
print(f"|---|---|---|")
for name, (lo, med, hi) in rows.items():
    group = name.rsplit("/", 1)[0]
    raw = rows.get(f"{group}/raw aws-lc-rs verify")
    ratio = f"{med / raw[1]:.2f}x ({med - raw[1]:+.2f} µs)" if raw and name.startswith("verify/") else ""
    print(f"| {name} | {med:.3f} ({lo:.3f}..{hi:.3f}) | {ratio} |")
PY
