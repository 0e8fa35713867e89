"""How many learners this machine holds: `wif classroom` with N learners spawned at once.

For each N (default 10 and 20), on a fresh classroom (real JupyterHub, proxy, learners' servers and
kits):

- spawn → kit answering: from the REST request that starts a learner's server to the first answer
  of that learner's kit through the learner's own server (``/user/<name>/wif/api/status`` with both
  services running); median and p95;
- memory per learner: resident set (RSS) of every process working in the learner's home (the
  Jupyter server, one kernel, the IdP, mongod), after each learner ran lesson 00's cells;
- idle CPU per learner: CPU time of those processes over ``--idle-seconds`` with nobody working,
  as a share of one core;
- lesson cells: lesson 00's cells (``%load_ext``/``%wif_up``, the connect cell, a check) run in
  every learner's kernel at once; the slowest cell per learner. N "holds" when every cell of every
  learner answered within 2 s.

Usage::

    python benchmarks/classroom.py [--learners 10 20] [--idle-seconds 60] \\
        [--output benchmarks/results/classroom.json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from workshop.kernel_client import run_cells  # noqa: E402
from workshop.shared_host import defaults_taken  # noqa: E402

CELL_DEADLINE_S = 2.0
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def wif(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "wif_notebook", *args], capture_output=True, text=True, env=env, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"wif {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}


def api(hub: str, token: str, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(
        f"{hub}hub/api/{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def kit_answers(hub: str, token: str, name: str) -> bool:
    req = urllib.request.Request(
        f"{hub}user/{name}/wif/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    services = doc.get("services", {})
    return bool(services.get("idp", {}).get("running") and services.get("mongod", {}).get("running"))


def processes_in(home: Path) -> list[int]:
    root = str(home.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd == root or cwd.startswith(root + os.sep):
                pids.append(int(entry.name))
    return pids


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return total / TICKS


def lesson_cells() -> list[str]:
    nb = json.loads((ROOT / "notebooks" / "00-preflight.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    first = next(c for c in code if c.startswith("%load_ext wif_notebook"))
    connect = next(c for c in code if c.startswith("%wif_connect"))
    return [
        first,
        connect,
        "from wif_notebook import stack\nfrom wif_notebook.checks import check\n"
        "from wif_notebook.state import StateDir\n"
        'check("00-preflight", "kit-issuer", stack.status(StateDir())["issuer"])',
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(n: int, idle_seconds: float, env: dict[str, str]) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"wif-bench-classroom-{n}-")) / "room"
    up = wif("classroom", "up", "--learners", str(n), "--port", "0", "--dir", str(folder), "--json", env=env)
    hub, token = up["hub_url"], (folder / "api-token").read_text().strip()
    try:
        requested: dict[str, float] = {}
        answered: dict[str, float] = {}

        def spawn(name: str) -> None:
            requested[name] = time.monotonic()
            api(hub, token, f"users/{name}/server", method="POST")

        threads = [threading.Thread(target=spawn, args=(name,)) for name in up["learners"]]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60 + 20 * n
        while len(answered) < n and time.monotonic() < deadline:
            for name in up["learners"]:
                if name not in answered and name in requested and kit_answers(hub, token, name):
                    answered[name] = time.monotonic()
            time.sleep(0.25)
        for t in threads:
            t.join()
        spawn_s = [answered[name] - requested[name] for name in answered]

        async def everyone() -> list[list[dict[str, Any]]]:
            jobs = []
            for name in up["learners"]:
                http = f"{hub}user/{name}/"
                jobs.append(run_cells(http, "ws" + http[len("http") :], token, lesson_cells(), keep=True))
            return await asyncio.gather(*jobs)

        outputs = asyncio.run(everyone())
        slowest = [max(cell["seconds"] for cell in cells) for cells in outputs]
        errors = [
            cell["error"] for cells in outputs for cell in cells if cell["error"] or cell["status"] != "ok"
        ]

        homes = [folder / "homes" / name for name in up["learners"]]
        rss = [rss_bytes(processes_in(home)) / 2**20 for home in homes]
        pids = [processes_in(home) for home in homes]
        before = [cpu_seconds(p) for p in pids]
        time.sleep(idle_seconds)
        after = [cpu_seconds(p) for p in pids]
        idle_cpu = [(a - b) / idle_seconds * 100 for a, b in zip(after, before, strict=True)]
        return {
            "learners": n,
            "answered": len(answered),
            "spawn_to_kit_s": {
                "median": round(statistics.median(spawn_s), 2) if spawn_s else None,
                "p95": round(percentile(spawn_s, 0.95), 2) if spawn_s else None,
                "all": [round(s, 2) for s in sorted(spawn_s)],
            },
            "rss_per_learner_mib": {
                "median": round(statistics.median(rss), 1),
                "max": round(max(rss), 1),
                "processes": round(statistics.median(len(p) for p in pids), 1),
            },
            "idle_cpu_per_learner_percent_of_a_core": {
                "median": round(statistics.median(idle_cpu), 2),
                "max": round(max(idle_cpu), 2),
                "seconds": idle_seconds,
            },
            "lesson_cells": {
                "slowest_cell_s_median": round(statistics.median(slowest), 2),
                "slowest_cell_s_max": round(max(slowest), 2),
                "errors": errors[:5],
                "all_within_2s": not errors and max(slowest) <= CELL_DEADLINE_S,
            },
        }
    finally:
        wif("classroom", "down", "--dir", str(folder), env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "classroom.json"))
    args = parser.parse_args()
    with defaults_taken() as env:
        runs = []
        for n in args.learners:
            print(f"classroom with {n} learners ...", flush=True)
            runs.append(measure(n, args.idle_seconds, env))
            print(json.dumps(runs[-1], indent=2), flush=True)
    holding = [
        r["learners"] for r in runs if r["lesson_cells"]["all_within_2s"] and r["answered"] == r["learners"]
    ]
    mem_total = os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30
    result = {
        "benchmark": "classroom",
        "command": "python benchmarks/classroom.py " + " ".join(sys.argv[1:]),
        "when": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_total, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "runs": runs,
        "largest_n_tested_with_every_cell_within_2s": max(holding) if holding else None,
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
