"""An attacker's script, run as a governed process to prove the confinement holds.

`probe_source(targets)` is a self-contained Python program (stdlib only) that a
test places in a task's repo and runs from inside the boundary (a governed
command, a `deterministic_proof` step, a command Codex runs). It tries every way
out the trust-boundary issue lists and writes what it found to
`probe-report.json` in its working directory (with `launcher`: whether
it found hive-confine above it), which is also the proof that its
own work in its repo still succeeds:

- the environment and memory of every process outside its own governed tree
  (found by scanning /proc: the sandbox, the gateway, PostgreSQL, other tasks);
- files and directories: the data dir, `secrets.json`, `pgdata`, another task;
- TCP connections: PostgreSQL (with and without its password), the sandbox, the
  gateway's internal endpoints;
- binding a service's port beside it (SO_REUSEPORT would take a share of its
  connections);
- minting a relay token at the gateway; signalling the sandbox.

Each attempt that succeeds is a `leak`; the test asserts there are none.
"""

from __future__ import annotations

import json
from typing import Any

_PROBE = r'''
import json, os, signal, socket, struct, urllib.request

T = json.loads(__TARGETS__)
leaks, blocked = [], []


def note(ok, what):
    (leaks if ok else blocked).append(what)


def stat_of(pid):
    raw = open(f"/proc/{pid}/stat", "rb").read()
    fields = raw[raw.rfind(b")") + 2:].split()
    return int(fields[1])


def launcher_of(pid):
    """The hive-confine process above us: our governed tree is everything below it."""
    while pid > 1:
        try:
            argv0 = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0", 1)[0]
        except OSError:
            return None
        if argv0.endswith(b"hive-confine"):
            return pid
        pid = stat_of(pid)
    return None


def tree_of(root):
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = stat_of(int(name))
            except OSError:
                pass
    inside = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in inside and pid not in inside:
                inside.add(pid)
                changed = True
    return inside, parents


launcher = launcher_of(os.getpid())
inside, every = tree_of(launcher or os.getpid())
outside = [p for p in every if p not in inside]
for pid in outside:
    for part in ("environ", "mem"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as fh:
                data = fh.read(64) if part == "environ" else b"opened"
            note(bool(data), f"/proc/{pid}/{part} readable")
        except OSError:
            pass
blocked.append(f"/proc environ+mem of {len(outside)} outside processes")

for path in T.get("files", []):
    try:
        with open(path, "rb") as fh:
            fh.read(16)
        note(True, f"read {path}")
    except OSError as exc:
        note(False, f"read {path}: {exc.strerror}")
for path in T.get("dirs", []):
    try:
        os.listdir(path)
        note(True, f"listed {path}")
    except OSError as exc:
        note(False, f"list {path}: {exc.strerror}")
    try:
        open(os.path.join(path, "planted-by-probe"), "w").write("x")
        note(True, f"wrote into {path}")
    except OSError as exc:
        note(False, f"write into {path}: {exc.strerror}")

for host, port, what in T.get("tcp", []):
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            if what.startswith("postgres"):
                # A startup message: a server that answers it would take a password next.
                user = b"user\0postgres\0database\0postgres\0\0"
                s.sendall(struct.pack("!ii", 8 + len(user), 196608) + user)
                answer = s.recv(1)
                note(bool(answer), f"connected to {what} ({host}:{port}) and it answered")
            else:
                note(True, f"connected to {what} ({host}:{port})")
    except OSError as exc:
        note(False, f"connect {what} {host}:{port}: {exc.strerror or exc}")

for port in T.get("bind", []):
    try:
        b = socket.socket()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        b.bind(("127.0.0.1", port))
        b.listen()
        note(True, f"bound the service port {port} beside it (SO_REUSEPORT)")
    except OSError as exc:
        note(False, f"bind {port}: {exc.strerror}")
    finally:
        b.close()

if T.get("gateway_url"):
    body = json.dumps({"task_id": T.get("task_id"), "scopes": ["relay:model"]}).encode()
    req = urllib.request.Request(
        T["gateway_url"] + "/internal/task-tokens", data=body,
        headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            note(resp.status < 300, f"minted a relay token ({resp.status})")
    except Exception as exc:  # refused at the network or by the gateway: both blocked
        note(False, f"mint relay token: {exc}")

for pid in T.get("signal", []):
    try:
        os.kill(pid, 0)
        note(True, f"may signal pid {pid}")
    except OSError as exc:
        note(False, f"signal {pid}: {exc.strerror}")

open("probe-own-work.txt", "w").write("written by the probe\n")
own = open("probe-own-work.txt").read() == "written by the probe\n"
report = {"leaks": leaks, "blocked": blocked, "own_work": own, "launcher": launcher is not None}
json.dump(report, open("probe-report.json", "w"))
print(json.dumps({"leaks": leaks, "own_work": own}))
'''


def probe_source(targets: dict[str, Any]) -> str:
    """The probe program with its targets baked in (a file to put in the task's repo)."""
    return _PROBE.replace("__TARGETS__", repr(json.dumps(targets)))
