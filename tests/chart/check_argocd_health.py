#!/usr/bin/env python3
"""Runs the Argo CD health scripts in deploy/argocd/health/ against their fixtures, in real Lua.

Each deploy/argocd/health/<group>/<Kind>/ holds health.lua, health_test.yaml and testdata/ in the
layout of argo-cd's resource_customizations. For every test, the fixture object becomes the
global `obj` and health.lua runs in an environment holding only what Argo CD's Lua offers (base
functions, string, table, math), under every interpreter found: lua5.1 (the dialect of Argo
CD's gopher-lua) and lua5.4. The reported status and message must equal the expected ones.

It also checks that deploy/argocd/argocd-cm.yaml embeds exactly these scripts.

Usage: check_argocd_health.py [--lua INTERPRETER]...   (default: every lua5.1/lua5.4 on PATH)
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HEALTH = ROOT / "deploy" / "argocd" / "health"
ARGOCD_CM = ROOT / "deploy" / "argocd" / "argocd-cm.yaml"

HARNESS = r"""
local function sandbox()
  -- What Argo CD's Lua VM offers a health script (no io, no os, no require).
  local env = {
    obj = OBJ, ipairs = ipairs, pairs = pairs, next = next, type = type,
    tostring = tostring, tonumber = tonumber, select = select, error = error,
    pcall = pcall, unpack = unpack or table.unpack,
    string = string, table = table, math = math,
  }
  return env
end
local path = arg[1]
local file = assert(io.open(path, "r"))
local source = file:read("*a")
file:close()
local chunk
if setfenv then -- Lua 5.1
  chunk = assert(loadstring(source, "@" .. path))
  setfenv(chunk, sandbox())
else
  chunk = assert(load(source, "@" .. path, "t", sandbox()))
end
local hs = chunk()
if type(hs) ~= "table" then
  error("health.lua returned " .. type(hs) .. ", not a table")
end
io.write(tostring(hs.status), "\n", tostring(hs.message))
"""


def lua_literal(value) -> str:
    """A Lua expression for a YAML/JSON value (None values are left out, as Argo CD does)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("no NaN or infinity in fixtures")
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, list):
        items = [lua_literal(v) for v in value if v is not None]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, dict):
        fields = [
            f"[{lua_string(str(k))}] = {lua_literal(v)}"
            for k, v in value.items()
            if v is not None
        ]
        return "{" + ", ".join(fields) + "}"
    raise TypeError(f"cannot express {type(value).__name__} in Lua")


def lua_string(s: str) -> str:
    out = ['"']
    for byte in s.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif byte < 32 or byte >= 127:
            out.append(f"\\{byte:03d}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def interpreters(requested: list[str]) -> list[str]:
    if requested:
        missing = [i for i in requested if shutil.which(i) is None]
        if missing:
            sys.exit(f"error: Lua interpreter(s) not found: {', '.join(missing)}")
        return requested
    found = [i for i in ("lua5.1", "lua5.4") if shutil.which(i)]
    if not found:
        sys.exit("error: no Lua interpreter (install Debian's lua5.4, and lua5.1 for Argo CD's dialect)")
    return found


def check_argocd_cm(scripts: dict[str, str], failures: list[str]) -> bool:
    """Whether argocd-cm.yaml embeds exactly the scripts; adds a failure per difference."""
    before = len(failures)
    cm = yaml.safe_load(ARGOCD_CM.read_text())
    data = cm.get("data") or {}
    for key, source in scripts.items():
        if data.get(key) != source:
            failures.append(
                f"{ARGOCD_CM.relative_to(ROOT)}: data[{key!r}] differs from the health.lua it "
                "must embed (copy the script into the ConfigMap)"
            )
    extra = sorted(k for k in data if k.startswith("resource.customizations.health.") and k not in scripts)
    for key in extra:
        failures.append(f"{ARGOCD_CM.relative_to(ROOT)}: {key} has no health.lua in {HEALTH.relative_to(ROOT)}")
    return len(failures) == before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lua", action="append", default=[], help="Lua interpreter to use (repeatable)")
    args = parser.parse_args()
    luas = interpreters(args.lua)
    print(f"Lua interpreters: {', '.join(luas)}")

    passed, failures = 0, []
    scripts: dict[str, str] = {}
    kinds = sorted(p.parent for p in HEALTH.glob("*/*/health.lua"))
    if not kinds:
        sys.exit(f"error: no health.lua under {HEALTH}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind_dir in kinds:
            group, kind = kind_dir.parent.name, kind_dir.name
            script = kind_dir / "health.lua"
            scripts[f"resource.customizations.health.{group}_{kind}"] = script.read_text()
            tests = yaml.safe_load((kind_dir / "health_test.yaml").read_text())["tests"]
            if not tests:
                failures.append(f"{kind_dir}: no tests")
            fixtures_used = set()
            for test in tests:
                fixture = kind_dir / test["inputPath"]
                fixtures_used.add(fixture.name)
                obj = yaml.safe_load(fixture.read_text())
                want = (test["healthStatus"]["status"], test["healthStatus"].get("message", ""))
                harness = tmp / "harness.lua"
                harness.write_text(f"OBJ = {lua_literal(obj)}\n{HARNESS}")
                for lua in luas:
                    run = subprocess.run(
                        [lua, str(harness), str(script)], capture_output=True, text=True, timeout=30
                    )
                    name = f"{group}/{kind} {test['inputPath']} [{lua}]"
                    if run.returncode != 0:
                        failures.append(f"{name}: Lua failed: {run.stderr.strip()}")
                        continue
                    status, _, message = run.stdout.partition("\n")
                    got = (status, message)
                    if got != want:
                        failures.append(f"{name}: got {got}, want {want}")
                    else:
                        passed += 1
            unused = sorted(p.name for p in (kind_dir / "testdata").glob("*.yaml") if p.name not in fixtures_used)
            for name in unused:
                failures.append(f"{kind_dir.relative_to(ROOT)}/testdata/{name}: not used by health_test.yaml")
    if check_argocd_cm(scripts, failures):
        passed += 1

    for f in failures:
        print(f"FAIL {f}")
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
