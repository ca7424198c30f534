"""Test double: a scripted OpenAI-compatible model server on 127.0.0.1.

The one boundary this project cannot reach from here is an LLM vendor, so tests
stand one in with this server. It answers `POST /v1/responses` (the Responses
API, streamed as Server-Sent Events the way Codex expects, or as one JSON body
when `stream` is false), `POST /v1/chat/completions` (plain or streamed) and
`GET /v1/models`, from a queue of scripted turns, and records every request it
receives (path, headers, JSON body) so a test can assert what reached the vendor.

    with ScriptedModelServer([FunctionCall("exec_command", {"cmd": "ls"}),
                              Message("done")]) as model:
        ... point a client at model.base_url (".../v1") ...
        assert model.requests[0].headers["authorization"] == "Bearer sk-..."

`stop()` closes the port (a provider that is down); `start()` serves again on
the same port. Runnable on its own: `python -m tests.support.scripted_model`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Message:
    """A final assistant message (ends the model's turn)."""

    text: str


@dataclass(frozen=True)
class FunctionCall:
    """A `function_call` item (Codex: `exec_command` with {"cmd": ...})."""

    name: str
    arguments: dict[str, Any] | str
    call_id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])

    def arguments_json(self) -> str:
        """The arguments as the JSON string the APIs carry."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class CustomToolCall:
    """A `custom_tool_call` item (Codex: `apply_patch` whose input is the patch text)."""

    name: str
    input: str
    call_id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])


@dataclass(frozen=True)
class HttpError:
    """Answer the request with this status and a JSON error body."""

    status: int
    message: str = "scripted error"


@dataclass(frozen=True)
class Stall:
    """Open the stream, then hold it (no completion) until `release()` or `seconds` pass."""

    seconds: float = 60.0


@dataclass(frozen=True)
class Hold:
    """Wait until `release` is set (or `timeout_s` passes), then answer with `then`.

    Keeps the client waiting on the model mid-turn, e.g. to inspect the
    process that called it while it runs.
    """

    release: threading.Event
    then: Item | list[Item] | HttpError | Stall
    timeout_s: float = 60.0


Item = Message | FunctionCall | CustomToolCall
Turn = Item | list[Item] | HttpError | Stall | Hold


@dataclass
class ReceivedRequest:
    """One request as the server saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float


def _items(turn: Turn) -> list[Item]:
    return list(turn) if isinstance(turn, list) else [turn]  # type: ignore[list-item]


def _response_item(item: Item) -> dict[str, Any]:
    """The Responses-API output item for a scripted item."""
    if isinstance(item, Message):
        return {
            "type": "message",
            "id": "msg_" + uuid.uuid4().hex[:12],
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": item.text, "annotations": []}],
        }
    if isinstance(item, FunctionCall):
        return {
            "type": "function_call",
            "id": "fc_" + uuid.uuid4().hex[:12],
            "call_id": item.call_id,
            "name": item.name,
            "arguments": item.arguments_json(),
            "status": "completed",
        }
    return {
        "type": "custom_tool_call",
        "id": "ctc_" + uuid.uuid4().hex[:12],
        "call_id": item.call_id,
        "name": item.name,
        "input": item.input,
        "status": "completed",
    }


def _usage() -> dict[str, Any]:
    return {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    }


class ScriptedModelServer:
    """A loopback OpenAI-compatible server answering from a queue of scripted turns."""

    def __init__(
        self,
        turns: Iterable[Turn] = (),
        *,
        default: Turn | None = None,
        responder: Callable[[ReceivedRequest], Turn | None] | None = None,
        models: Iterable[str] = ("qwen3-max", "gpt-5.5"),
        port: int = 0,
    ) -> None:
        self._turns: deque[Turn] = deque(turns)
        self._default = default
        self._responder = responder
        self.models = list(models)
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (kept across stop/start)."""
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, what OpenAI clients take as their base URL."""
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> ScriptedModelServer:
        """Listen (again) on the port; returns self."""
        if self._httpd is not None:
            return self
        ThreadingHTTPServer.allow_reuse_address = True
        httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        httpd.daemon_threads = True
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._release.clear()
        self._thread = threading.Thread(target=httpd.serve_forever, name="scripted-model")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: new connections are refused, like a provider that is down."""
        httpd, self._httpd = self._httpd, None
        self._release.set()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------------------

    def script(self, *turns: Turn) -> None:
        """Append turns to the queue."""
        with self._lock:
            self._turns.extend(turns)

    def reset(self) -> None:
        """Forget unserved turns and recorded requests (between tests sharing one server)."""
        with self._lock:
            self._turns.clear()
            self.requests.clear()

    def release(self) -> None:
        """Let every stalled stream end (they then close without completing)."""
        self._release.set()

    @property
    def pending(self) -> int:
        """Scripted turns not yet served."""
        with self._lock:
            return len(self._turns)

    def model_requests(self) -> list[ReceivedRequest]:
        """The requests that asked for a completion (not /models)."""
        return [r for r in self.requests if r.method == "POST"]

    def _record(self, request: ReceivedRequest) -> Turn:
        with self._lock:
            self.requests.append(request)
            if self._responder is not None:
                chosen = self._responder(request)
                if chosen is not None:
                    return chosen
            if self._turns:
                return self._turns.popleft()
        if self._default is not None:
            return self._default
        return HttpError(500, "scripted model server: no scripted turn left")


# -- wire formats ----------------------------------------------------------------------------


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def responses_stream(turn: list[Item], model: str) -> Iterator[bytes]:
    """The SSE events of one Responses-API turn, ending with response.completed."""
    rid = "resp_" + uuid.uuid4().hex[:16]
    base = {"id": rid, "object": "response", "model": model, "created_at": int(time.time())}
    seq = 0

    def ev(kind: str, **data: Any) -> bytes:
        nonlocal seq
        seq += 1
        return _sse(kind, {"type": kind, "sequence_number": seq, **data})

    yield ev("response.created", response=base | {"status": "in_progress", "output": []})
    output = []
    for index, item in enumerate(turn):
        full = _response_item(item)
        output.append(full)
        yield ev("response.output_item.added", output_index=index, item=full)
        if isinstance(item, Message):
            yield ev(
                "response.output_text.delta",
                item_id=full["id"],
                output_index=index,
                content_index=0,
                delta=item.text,
            )
        yield ev("response.output_item.done", output_index=index, item=full)
    yield ev(
        "response.completed",
        response=base | {"status": "completed", "output": output, "usage": _usage()},
    )


def responses_json(turn: list[Item], model: str) -> dict[str, Any]:
    """A non-streamed Responses-API body."""
    output = [_response_item(i) for i in turn]
    text = "".join(i.text for i in turn if isinstance(i, Message))
    return {
        "id": "resp_" + uuid.uuid4().hex[:16],
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "completed",
        "output": output,
        "output_text": text,
        "usage": _usage(),
    }


def _chat_tool_calls(turn: list[Item]) -> list[dict[str, Any]]:
    calls = []
    for i, item in enumerate(turn):
        if isinstance(item, FunctionCall):
            args = item.arguments_json()
        elif isinstance(item, CustomToolCall):
            args = json.dumps({"input": item.input})
        else:
            continue
        calls.append(
            {
                "index": i,
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": args},
            }
        )
    return calls


def chat_json(turn: list[Item], model: str) -> dict[str, Any]:
    """A non-streamed chat.completion body."""
    text = "".join(i.text for i in turn if isinstance(i, Message))
    calls = _chat_tool_calls(turn)
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:16],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def chat_stream(turn: list[Item], model: str) -> Iterator[bytes]:
    """chat.completion.chunk events, then `data: [DONE]`."""
    cid = "chatcmpl-" + uuid.uuid4().hex[:16]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    yield chunk({"role": "assistant"})
    for item in turn:
        if isinstance(item, Message):
            yield chunk({"content": item.text})
    calls = _chat_tool_calls(turn)
    if calls:
        yield chunk({"tool_calls": calls})
    yield chunk({}, "tool_calls" if calls else "stop")
    yield b"data: [DONE]\n\n"


def _handler_for(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 semantics: every response ends by closing the connection, so
        # streamed bodies need neither a length nor chunked encoding.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _receive(self) -> ReceivedRequest:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            return ReceivedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                received_at=time.time(),
            )

        def do_GET(self) -> None:
            request = self._receive()
            with server._lock:
                server.requests.append(request)
            if self.path.rstrip("/").endswith("/models"):
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {"id": m, "object": "model", "created": 0, "owned_by": "scripted"}
                            for m in server.models
                        ],
                    },
                )
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            request = self._receive()
            path = self.path.split("?")[0].rstrip("/")
            if not (path.endswith("/responses") or path.endswith("/chat/completions")):
                with server._lock:
                    server.requests.append(request)
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            turn = server._record(request)
            if isinstance(turn, Hold):
                turn.release.wait(turn.timeout_s)
                turn = turn.then
            body = request.body if isinstance(request.body, dict) else {}
            model = str(body.get("model") or "scripted")
            stream = bool(body.get("stream"))
            if isinstance(turn, HttpError):
                self._json(turn.status, {"error": {"message": turn.message, "type": "scripted"}})
                return
            if isinstance(turn, Stall):
                self._stall(turn, model)
                return
            items = _items(turn)
            chat = path.endswith("/chat/completions")
            if not stream:
                self._json(200, chat_json(items, model) if chat else responses_json(items, model))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            events = chat_stream(items, model) if chat else responses_stream(items, model)
            try:
                for chunk in events:
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

        def _stall(self, stall: Stall, model: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            created = {"id": "resp_stalled", "object": "response", "model": model}
            try:
                self.wfile.write(
                    _sse("response.created", {"type": "response.created", "response": created})
                )
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            server._release.wait(stall.seconds)

    return Handler


def main() -> None:
    """Serve a default final message on an ephemeral port until Ctrl-C (manual use)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", default="done")
    args = parser.parse_args()
    with ScriptedModelServer(default=Message(args.text), port=args.port) as model:
        print(model.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
