#!/usr/bin/env bash
# Chart checks (tests/chart/check_chart.py) and Argo CD health tests
# (tests/chart/check_argocd_health.py), with what they need installed first:
#   - a virtualenv (target/chart-venv) with tests/chart/requirements.txt from PyPI;
#   - Debian's lua5.1 (Argo CD's Lua dialect) and lua5.4, with apt-get when missing.
# Set DPCTL to a dpctl binary to also validate the templates the chart installs.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${CHART_VENV:-target/chart-venv}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for lua in lua5.1 lua5.4; do command -v "$lua" >/dev/null || missing+=("$lua"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    echo "installing python3-venv (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/chart/requirements.txt

args=()
if [ -n "${DPCTL:-}" ]; then args+=(--dpctl "$DPCTL"); fi
"$venv/bin/python" tests/chart/check_chart.py "${args[@]}"
"$venv/bin/python" tests/chart/check_argocd_health.py --lua lua5.1 --lua lua5.4
