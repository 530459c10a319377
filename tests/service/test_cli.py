"""The console script: ``dev`` runs and stops the whole service; ``export-openapi`` writes the schema."""

import argparse
import json
import os
import re
import signal
import subprocess
import time

import httpx
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.embedded_redis import free_port

from .data import imaging, inversion
from .http import register
from .procs import ROOT, Stack, command


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_dev_starts_everything_and_ctrl_c_stops_everything(redis_url, workdir, compile_cache):
    stack = Stack("dev", redis_url, workdir, compile_cache)  # used for its config file only
    port = free_port()
    log = stack.dir / "dev.log"
    with open(log, "wb") as fh:
        dev = subprocess.Popen(command("dev", "--port", str(port)), env=stack.env, stdout=fh,
                               stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while "[dev] ready" not in log.read_text():
            assert dev.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=60) as c:
            ready = c.get("/readyz").json()
            worker_pid = ready["workers"][0]["pid"]
            dataset_id = register(c, imaging(seed=41))
            assert c.post("/inversions", json=inversion(dataset_id)).status_code == 200
        text = log.read_text()
        assert "starting embedded Redis" in text and "compiling" in text
        redis_port = int(re.search(r"on port (\d+)", text).group(1))
        dev.send_signal(signal.SIGINT)  # what Ctrl-C delivers to the supervisor
        assert dev.wait(timeout=60) == 0, log.read_text()
        assert "[dev] stopped" in log.read_text()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2)
        with pytest.raises(RedisConnectionError):
            Redis(port=redis_port, socket_connect_timeout=1).ping()
        assert _gone(worker_pid)
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)


def test_redis_prints_its_url_serves_and_stops_on_sigterm():
    port = free_port()
    proc = subprocess.Popen(command("redis", "--port", str(port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, start_new_session=True)
    try:
        line = proc.stdout.readline().strip()
        assert line == f"redis://127.0.0.1:{port}/0", proc.stderr.read() if proc.poll() is not None else line
        client = Redis.from_url(line, socket_connect_timeout=2)
        assert client.ping() and client.config_get("save")["save"] == ""
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(RedisConnectionError):
            Redis(port=port, socket_connect_timeout=1).ping()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()


def test_every_option_states_its_default():
    from service.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"api", "worker", "dev", "redis", "export-openapi"} <= subparsers.choices.keys()
    for name, sub in subparsers.choices.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and f"(default: {action.default})" in text, (name, action.option_strings, text)


def test_export_openapi(tmp_path):
    out = tmp_path / "schema.json"
    subprocess.run(command("export-openapi", "--output", str(out)), check=True, cwd=ROOT, capture_output=True)
    assert json.loads(out.read_text())["info"]["title"] == "Inversion service"
