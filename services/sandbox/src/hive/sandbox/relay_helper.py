"""The relay helper process: a loopback model endpoint that holds the task token.

Run as `python -m hive.sandbox.relay_helper --relay-url URL` with the task
token in the environment variable HIVE_RELAY_TASK_TOKEN and nothing else of
value. It listens on 127.0.0.1 (an ephemeral port, printed as one JSON line on
stdout), accepts OpenAI-compatible calls without any credential from a local
runtime (Codex, in the `relay_helper` backend) and forwards each one through
the gateway relay with the shared task-relay client, streaming the answer back
byte for byte (SSE included). So the runtime holds no credential at all, and
the helper holds only a short-lived token that the relay accepts.

The helper exits when its stdin closes (the sandbox that started it went away)
or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Final

from hive.contracts.relay_client import RelayError, TaskRelayClient

TOKEN_ENV: Final = "HIVE_RELAY_TASK_TOKEN"
ALLOWED: Final = frozenset(
    {("POST", "/responses"), ("POST", "/chat/completions"), ("GET", "/models")}
)
MAX_HEAD: Final = 64 * 1024
MAX_BODY: Final = 32 * 1024 * 1024
# Never forwarded: hop-by-hop headers, and what the relay client sets itself.
DROP_REQUEST: Final = frozenset(
    {
        "host",
        "authorization",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "cookie",
    }
)
DROP_RESPONSE: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "set-cookie"})


class BadRequest(Exception):
    """The local caller sent something this helper does not forward."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise BadRequest(413, "request body too large")
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    length = int(headers.get("content-length") or 0)
    if length > MAX_BODY:
        raise BadRequest(413, "request body too large")
    return await reader.readexactly(length) if length else b""


def _error(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "relay_helper"}}).encode()
    writer.write(
        f"HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body
    )


class RelayHelper:
    """Forwards loopback calls through the relay; one request per connection."""

    def __init__(self, client: TaskRelayClient) -> None:
        self.client = client
        self.forwarded = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection: parse, forward, stream the answer, close."""
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, _version = lines[0].split(" ", 2)
            except ValueError:
                _error(writer, 400, "malformed request line")
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            path = target.split("?", 1)[0]
            sub = path[len("/v1") :] if path.startswith("/v1/") else None
            if sub is None or (method, sub.rstrip("/")) not in ALLOWED:
                _error(writer, 404, f"the relay helper does not forward {method} {path}")
                return
            try:
                body = await _read_body(reader, headers)
            except BadRequest as exc:
                _error(writer, exc.status, str(exc))
                return
            forward_headers = {k: v for k, v in headers.items() if k not in DROP_REQUEST}
            await self._forward(writer, method, sub.rstrip("/"), body, forward_headers)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()

    async def _forward(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        try:
            async with self.client.forward(
                method, path, content=body or None, headers=headers
            ) as resp:
                self.forwarded += 1
                out = [f"HTTP/1.1 {resp.status_code} {resp.reason_phrase or 'OK'}"]
                for name, value in resp.headers.items():
                    if name.lower() not in DROP_RESPONSE:
                        out.append(f"{name}: {value}")
                out.append("connection: close")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
                await writer.drain()
                async for chunk in resp.aiter_raw():
                    writer.write(chunk)
                    await writer.drain()
        except RelayError as exc:
            _error(writer, exc.status if exc.status >= 400 else 502, f"relay: {exc.code}")


async def serve(relay_url: str, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
    """Listen, announce the URL on stdout, serve until stdin closes or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with TaskRelayClient(relay_url, token) as client:
        helper = RelayHelper(client)
        server = await asyncio.start_server(helper.handle, host, port, limit=MAX_HEAD)
        bound = server.sockets[0].getsockname()
        print(json.dumps({"listening": f"http://{bound[0]}:{bound[1]}/v1"}), flush=True)

        async def watch_stdin() -> None:
            # stdin is a pipe from the sandbox: EOF means the sandbox is gone.
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer
            )
            while await reader.read(4096):
                pass
            stop.set()

        watcher = asyncio.create_task(watch_stdin())
        async with server:
            await stop.wait()
        watcher.cancel()


def main() -> None:
    """Entry point of `python -m hive.sandbox.relay_helper`."""
    parser = argparse.ArgumentParser(
        description="loopback model endpoint through the gateway relay"
    )
    parser.add_argument(
        "--relay-url", required=True, help="the gateway base URL (HIVE_GATEWAY_URL)"
    )
    args = parser.parse_args()
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        print(f"relay helper: {TOKEN_ENV} is required", file=sys.stderr)
        raise SystemExit(2)
    asyncio.run(serve(args.relay_url, token))


if __name__ == "__main__":
    main()
