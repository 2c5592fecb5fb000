"""A local OpenAI/Anthropic look-alike for the SDK tests: the real clients point at it through `base_url`.

The official SDKs run on httpx2, which respx does not patch (rules §8), so this stdlib server answers
with realistic JSON bodies and SSE streams. A route is a function of the request body, so a reply can
depend on what the client sent (`stream_options.include_usage`, a marker in the prompt).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = dict[str, Any]


@dataclass
class Reply:
    """A JSON body, or SSE events (`(event name or None, data)`); `pause_after` stops mid-stream until `gate`."""

    status: int = 200
    body: JSON | None = None
    events: list[tuple[str | None, str]] | None = None
    pause_after: int | None = None


@dataclass
class Received:
    path: str
    body: JSON
    headers: dict[str, str]


Route = Callable[[JSON], Reply]


@dataclass
class LLMServer:
    routes: dict[str, Route] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def bodies(self, path: str) -> list[JSON]:
        return [r.body for r in self.received if r.path == path]


def _handler(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            body = json.loads(raw or b"{}")
            path = self.path.split("?", 1)[0]
            server.received.append(Received(path, body, dict(self.headers.items())))
            route = server.routes.get(path)
            reply = route(body) if route else Reply(404, {"error": {"message": f"no route {path}"}})
            if reply.events is None:
                self._send_json(reply)
            else:
                self._send_sse(reply)

        def _send_json(self, reply: Reply) -> None:
            payload = json.dumps(reply.body or {}).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-request-id", "req_test")
            self.end_headers()
            self.wfile.write(payload)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _send_sse(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            for index, (event, data) in enumerate(reply.events or []):
                if reply.pause_after is not None and index == reply.pause_after:
                    server.gate.wait(5)
                head = f"event: {event}\n" if event else ""
                self._chunk(f"{head}data: {data}\n\n".encode())
            self._chunk(b"")

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # 100 tasks connect at once; the default backlog of 5 would reset some
    daemon_threads = True


def serve() -> Iterator[LLMServer]:
    """Run a server on a free loopback port for the duration of a fixture."""
    state = LLMServer()
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.gate.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# --- OpenAI payloads -------------------------------------------------------------------------------------


def chat_usage(prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0, **extra: Any) -> JSON:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        **extra,
    }


def chat_completion(usage: JSON, *, model: str = "gpt-4o-2024-08-06", text: str = "Hello there.") -> JSON:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "system_fingerprint": "fp_50cad350e4",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def chat_stream(request: JSON, usage: JSON, *, model: str = "gpt-4o-2024-08-06") -> list[tuple[str | None, str]]:
    """The chunks the API streams; with include_usage every chunk has `usage: null` plus a final usage chunk."""
    include = (request.get("stream_options") or {}).get("include_usage") is True
    base = {
        "id": "chatcmpl-stream1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": model,
        "system_fingerprint": "fp_50cad350e4",
        "service_tier": "default",
    }
    deltas = [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"content": "Hel"}, None),
        ({"content": "lo."}, None),
        ({}, "stop"),
    ]
    chunks = []
    for delta, finish in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include:
            chunk["usage"] = None
        chunks.append(chunk)
    if include:
        chunks.append({**base, "choices": [], "usage": usage})
    return [*((None, json.dumps(c)) for c in chunks), (None, "[DONE]")]


def responses_usage(total_input: int, output: int, *, cached: int = 0, written: int = 0, reasoning: int = 0) -> JSON:
    return {
        "input_tokens": total_input,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": total_input + output,
    }


def response_object(usage: JSON | None, *, model: str = "gpt-5.6-2026-07-01", status: str = "completed") -> JSON:
    done = status == "completed"
    message = {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi!", "annotations": [], "logprobs": []}],
    }
    return {
        "id": "resp_67ccd2bed1ec8190b14f964abc054267",
        "object": "response",
        "created_at": 1767225600,
        "status": status,
        "background": not done,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [message] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def responses_stream(usage: JSON, *, model: str = "gpt-5.6-2026-07-01") -> list[tuple[str | None, str]]:
    created = response_object(None, model=model, status="in_progress")
    done = response_object(usage, model=model)
    events: list[JSON] = [
        {"type": "response.created", "sequence_number": 0, "response": created},
        {"type": "response.in_progress", "sequence_number": 1, "response": created},
        {
            "type": "response.output_item.added",
            "sequence_number": 2,
            "output_index": 0,
            "item": {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []},
        },
        {
            "type": "response.content_part.added",
            "sequence_number": 3,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
        },
        {
            "type": "response.output_text.delta",
            "sequence_number": 4,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi!",
            "logprobs": [],
        },
        {
            "type": "response.output_text.done",
            "sequence_number": 5,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "text": "Hi!",
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "sequence_number": 6,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "Hi!", "annotations": [], "logprobs": []},
        },
        {"type": "response.output_item.done", "sequence_number": 7, "output_index": 0, "item": done["output"][0]},
        {"type": "response.completed", "sequence_number": 8, "response": done},
    ]
    return [(e["type"], json.dumps(e)) for e in events]


def embedding(prompt: int, *, model: str = "text-embedding-3-small") -> JSON:
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093, 0.0158]}],
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }


def openai_error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


# --- Anthropic payloads ----------------------------------------------------------------------------------


def anthropic_usage(inp: int, out: int, *, read: int = 0, five_min: int = 0, one_hour: int = 0) -> JSON:
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": five_min + one_hour,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": five_min, "ephemeral_1h_input_tokens": one_hour},
        "output_tokens": out,
        "service_tier": "standard",
    }


def anthropic_message(usage: JSON, *, model: str = "claude-haiku-4-5-20251001") -> JSON:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def anthropic_stream(
    start_usage: JSON, delta_usage: JSON, *, model: str = "claude-haiku-4-5-20251001"
) -> list[tuple[str | None, str]]:
    start = {**anthropic_message(start_usage, model=model), "content": [], "stop_reason": None}
    events: list[JSON] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo!"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": delta_usage},
        {"type": "message_stop"},
    ]
    return [(e["type"], json.dumps(e)) for e in events]


def anthropic_error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})
