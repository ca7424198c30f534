"""300 MB of output: the sandbox's memory stays flat, the preview small, the log byte-exact."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from tests.support.sandbox_server import SandboxServer

BLOCK = 64 * 1024
BLOCKS = 4800  # 4800 x 64 KiB = 300 MiB
TOTAL = BLOCK * BLOCKS
RSS_BUDGET = 50 * 1024 * 1024
# Deterministic output: every 64 KiB block is a fixed pattern stamped with its index,
# so a reordered, duplicated or dropped block changes the digest.
WRITER = f"""
import sys
out = sys.stdout.buffer
pattern = bytes(range(256)) * ({BLOCK} // 256)
for i in range({BLOCKS}):
    block = bytearray(pattern)
    block[:8] = i.to_bytes(8, 'big')
    out.write(block)
out.flush()
"""


def expected_digest() -> str:
    pattern = bytes(range(256)) * (BLOCK // 256)
    h = hashlib.sha256()
    for i in range(BLOCKS):
        block = bytearray(pattern)
        block[:8] = i.to_bytes(8, "big")
        h.update(block)
    return h.hexdigest()


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def test_300_mb_of_output_keeps_memory_flat_and_logs_exact(start_sandbox: Any) -> None:
    server: SandboxServer = start_sandbox(env={"HIVE_SANDBOX_LOG_CAP_BYTES": str(1 << 30)})
    worker = server.worker_pid()
    with server.client(timeout=120) as client:
        for _ in range(3):  # warm the code paths the big command will use
            client.post("/commands", json={"argv": ["echo", "warm"]})
        baseline = rss_bytes(worker)
        peak = [baseline]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], rss_bytes(worker))
                except (OSError, AssertionError):
                    return
                stop.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            r = client.post("/commands", json={"argv": ["python3", "-c", WRITER]})
            command_id = r.json()["command_id"]
            deadline = time.monotonic() + 120
            status = r.json()
            while status["state"] == "running":
                assert time.monotonic() < deadline
                status = client.get(f"/commands/{command_id}/poll", params={"timeout_s": 10}).json()
            assert status["state"] == "exited", status
            assert status["stdout"]["size_bytes"] == TOTAL
            assert status["stdout"]["log_omitted_bytes"] == 0
            assert len(status["stdout"]["preview"].encode("utf-8", "surrogatepass")) < 16 * 1024
            assert status["stdout"]["omitted_bytes"] > TOTAL - 8192

            # Read the whole log back in ranges, hashing as we go (never holding 300 MB here).
            h, offset, limit = hashlib.sha256(), 0, 8 * 1024 * 1024
            while True:
                with client.stream(
                    "GET",
                    f"/commands/{command_id}/log",
                    params={"stream": "stdout", "offset": offset, "limit": limit},
                ) as resp:
                    assert resp.status_code == 200
                    assert int(resp.headers["X-Log-Size"]) == TOTAL
                    n = 0
                    for chunk in resp.iter_bytes():
                        h.update(chunk)
                        n += len(chunk)
                    assert int(resp.headers["X-Next-Offset"]) == offset + n
                if n == 0:
                    break
                offset += n
            assert offset == TOTAL
            assert h.hexdigest() == expected_digest()
        finally:
            stop.set()
            sampler.join()
    hwm = rss_bytes(worker, "VmHWM")
    growth = max(peak[0], hwm) - baseline
    print(f"sandbox RSS baseline {baseline >> 20} MiB, peak growth {growth / 2**20:.1f} MiB")
    assert growth < RSS_BUDGET, f"sandbox RSS grew by {growth / 2**20:.1f} MiB"
