"""The benchmarks run (tiny): each scenario end to end, only to prove it works. Speed is
measured by running them for real (docs/performance.md), never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.system.conftest import base_env

REPO = Path(__file__).resolve().parents[2]


def bench(module: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = base_env(PYTHONUNBUFFERED="1")
    run = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, f"{module} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run


@pytest.mark.slow
def test_the_keynote_runs_against_podium_and_both_baselines_and_through_a_worker_killed(tmp_path: Path):
    out = tmp_path / "keynote.json"
    bench(
        "bench.keynote", "--clients", "40", "--seconds", "2", "--warmup", "1", "--grace", "1", "--procs", "2",
        "--storm", "--storm-seconds", "10", "--json", str(out),
    )  # fmt: skip
    runs = {r["target"]: r for r in json.loads(out.read_text())["runs"]}
    assert set(runs) == {"podium", "bare python-socketio", "bare aiohttp loop"}
    for r in runs.values():
        assert r["joined"] == 40 and r["regressions"] == 0, r
        assert r["frames"] > 0 and r["server_cpu_s"] > 0, r
    podium = runs["podium"]
    assert podium["actions"] > 0 and podium["reach"] > 0.9, podium
    storm = podium["storm"]
    assert storm["lost"] > 0 and storm["back"] == storm["lost"], storm
    assert storm["reach of an action after it"] == 1.0, storm
    assert storm["regressions"] == 0, storm


@pytest.mark.slow
def test_the_poll_bench_runs_a_vote_burst_and_a_poll_burst_and_every_phone_ends_with_the_stores_totals(
    tmp_path: Path,
):
    out = tmp_path / "poll.json"
    bench(
        "bench.poll", "--clients", "30", "--burst", "1", "--pause", "0.3", "--procs", "2", "--json", str(out)
    )
    runs = {r["path"]: r for r in json.loads(out.read_text())["runs"]}
    assert set(runs) == {"vote", "poll"}
    for r in runs.values():
        assert r["correct"] and r["phones_right"] == 30 and r["ok"] >= 30, r
        assert r["frames_mean"] > 0, r
    assert runs["poll"]["store"]["voters"] == 30 and runs["poll"]["final_reach"] == 1.0, runs["poll"]


@pytest.mark.slow
def test_the_presence_join_storm_runs(tmp_path: Path):
    bench(
        "bench.presence_join",
        "--clients",
        "30",
        "--warmup",
        "0",
        "--idle",
        "0.2",
        "--json",
        str(tmp_path / "p.json"),
    )


@pytest.mark.slow
def test_the_stage_signaling_bench_runs(tmp_path: Path):
    bench(
        "bench.stage_signal", "--rate", "5", "--seconds", "1", "--warmup", "0.5", "--drops", "2",
        "--viewers", "2", "--speakers", "1", "--moderators", "1", "--burst-candidates", "2",
        "--json", str(tmp_path / "s.json"),
    )  # fmt: skip
