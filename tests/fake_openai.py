"""A small OpenAI-compatible server for the tests and bench/generate.py, run as its own process on loopback.

    python tests/fake_openai.py [--port 0] [--delay 0.05] [--require-key KEY]

prints `listening on PORT` once it serves. POST /v1/chat/completions answers as a chat model would (JSON, or
SSE chunks with "stream": true); GET /log lists the requests it saw ({"at", "model", "prompt", "auth"}:
auth is only whether the key was right). Faults come on demand, written into the request:
- in the last user message: `[fault:429xN:S]` (the first N requests with this prompt get 429 with
  `Retry-After: S`), `[fault:500]` (always 500), `[fault:500xN]`, `[fault:slowxN:S]` (the first N answers
  wait S seconds), `[fault:malformed]` (a 200 whose body is not JSON, always), `[fault:malformedxN]`,
  `[fault:dropxN]` (the connection closes without an answer); N absent = always.
- in the model id: `judge=JSON` answers JSON as the reply; `judge-once-bad=JSON` answers "not JSON" the
  first time a prompt is seen, then JSON; any other id answers "Reply from ID: <the prompt>".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT = re.compile(r"\[fault:(\w+?)(?:x(\d+))?(?::([\d.]+))?\]")
_seen: dict[str, int] = {}  # (fault kind, prompt) -> requests so far
_log: list[dict] = []
_lock = threading.Lock()


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # parts: text and image_url
        return " ".join(
            p.get("text", "") if p.get("type") == "text" else "[image]"
            for p in content
            if isinstance(p, dict)
        )
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1"
    delay = 0.0
    key: str | None = None

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/log":
            with _lock:
                self._json(200, list(_log))
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        auth = self.headers.get("Authorization", "")
        ok_key = self.key is None or auth == f"Bearer {self.key}"
        model = str(body.get("model", ""))
        messages = body.get("messages") or []
        users = [m for m in messages if m.get("role") == "user"]
        prompt = _text(users[-1].get("content")) if users else ""
        with _lock:
            _log.append({"at": time.time(), "model": model, "prompt": prompt, "auth": ok_key,
                         "images": sum(1 for m in messages for p in (m.get("content") if isinstance(
                             m.get("content"), list) else []) if p.get("type") == "image_url")})  # fmt: skip
        if not ok_key:
            # As OpenAI does, the answer echoes part of the key it got (the client must keep it out of logs).
            sent = auth.removeprefix("Bearer ")
            shown = f"{sent[:8]}****{sent[-4:]}" if len(sent) > 12 else "****"
            error = {"message": f"Incorrect API key provided: {shown}.", "type": "invalid_request_error"}
            self._json(401, {"error": error})
            return
        for kind, times, arg in FAULT.findall(prompt):
            with _lock:
                n = _seen[(kind, prompt)] = _seen.get((kind, prompt), 0) + 1
            if times and n > int(times):
                continue
            if kind == "429":
                self._json(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": arg or "1"})
                return
            if kind == "500":
                self._json(500, {"error": {"message": "The server had an error"}})
                return
            if kind == "slow":
                time.sleep(float(arg or 2))
            if kind == "malformed":
                self._send(200, b'{"id": "x", "choices": [{"message": ')
                return
            if kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
        if self.delay:
            time.sleep(self.delay)
        reply = f"Reply from {model}: {prompt}"
        if "=" in model and model.split("=", 1)[0] in ("judge", "judge-once-bad"):
            kind, reply = model.split("=", 1)
            first = _text(users[0].get("content")) if users else ""  # the same judging, asked again
            with _lock:
                n = _seen[("judge", first + model)] = _seen.get(("judge", first + model), 0) + 1
            if kind == "judge-once-bad" and n == 1:
                reply = "I think A is better."
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(reply.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            self._stream(model, reply)
            return
        self._json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply}}],
            "usage": usage,
        })  # fmt: skip

    def _stream(self, model: str, reply: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        words = re.findall(r"\S+\s*", reply)
        for i, word in enumerate(words):
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [{"index": 0, "delta": {"content": word},
                                                  "finish_reason": "stop" if i == len(words) - 1 else None}]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.02)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--require-key", default=None, help="answer 401 unless this bearer key is sent")
    args = parser.parse_args()
    Handler.delay, Handler.key = args.delay, args.require_key
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    print(f"listening on {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    sys.exit(0)


if __name__ == "__main__":
    main()


class FakeServer:
    """The server above in a child process (for tests: `with FakeServer() as server: server.url`)."""

    def __init__(self, *, delay: float = 0.0, require_key: str | None = None) -> None:
        self.args = ["--delay", str(delay)] + (["--require-key", require_key] if require_key else [])

    def __enter__(self) -> FakeServer:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, __file__, *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"the fake OpenAI server did not start: {line!r}")
        self.port = int(line.split()[-1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def log(self) -> list[dict]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/log", timeout=5) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(5)
