"""A web page for a trained checkpoint: type a review and see its sentiment, or continue a prefix.

    python -m programs.demo runs/imdb/transformer_1block/version_0/checkpoints/last.ckpt
    python -m programs.demo runs/toy_lm/transformer/version_0/checkpoints/last.ckpt --port 8001

then open the address it prints (http://127.0.0.1:8000/ by default). A TextClassifier's checkpoint gets the
sentiment page: the probability that the review is positive (programs/sentiment.py's, as lab-sentiment prints
it) and the attention weights over its tokens, one panel per layer and head. A CausalLM's gets the language
model's page: a prefix continued with a temperature, top-k, top-p and seed (programs/generate.py's sampling, the
same text lab-generate prints with those flags). Any other checkpoint is refused in one line.

The page is served by the standard library's http.server and loads nothing from elsewhere, so it works with no
network (docs/demo.md says why not gradio). --host 0.0.0.0 shows it to other machines: it has no login, so
only on a network you trust. Ctrl-C stops it. `pip install .` also installs this command as `lab-demo`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from lab_errors import InputError, first_line
from lightning_modules.one_line_errors import input_errors_in_one_line
from programs.demo_models import Demo, load_demo

MAX_REQUEST_BYTES = 1_000_000  # a review or a prefix, not a file


class DemoServer(ThreadingHTTPServer):
    """Serves one demo's page at / and its answers at POST /answer; one answer at a time (the model's lock)."""

    daemon_threads = True  # Ctrl-C does not wait for a browser's open connection

    def __init__(self, address: tuple[str, int], demo: Demo, checkpoint: str) -> None:
        super().__init__(address, DemoHandler)
        self.demo = demo
        self.page = demo.page(checkpoint).encode("utf-8")
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoServer

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/", "/index.html"):
            self.reply(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        else:
            self.reply_json(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: no such page (the demo is at /)"})

    def do_POST(self) -> None:
        if self.path != "/answer":
            self.reply_json(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: the demo answers at /answer"})
            return
        try:
            fields = self.read_fields()
            with self.server.lock, torch.inference_mode():
                answer = self.server.demo.answer(fields)
        except InputError as err:  # the user's to fix: shown on the page in one line
            self.reply_json(HTTPStatus.BAD_REQUEST, {"error": first_line(err)})
        except Exception:  # a bug: its traceback in the server's log, a line on the page
            traceback.print_exc()
            self.reply_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error: see the server's log"})
        else:
            self.reply_json(HTTPStatus.OK, answer)

    def read_fields(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            raise InputError(f"the request is {length} bytes: at most {MAX_REQUEST_BYTES} are read")
        try:
            fields = json.loads(self.rfile.read(length) or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"the request is not JSON: {first_line(err)}") from err
        if not isinstance(fields, dict):
            raise InputError("the request must be a JSON object of the form's fields")
        return fields

    def reply_json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        self.reply(status, json.dumps(data).encode("utf-8"), "application/json")

    def reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # a new checkpoint on the same port: its own page
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would bury the address and the tracebacks of bugs


def make_server(demo: Demo, checkpoint: str, host: str = "127.0.0.1", port: int = 8000) -> DemoServer:
    """The demo's server, bound and listening (port 0: a free one, see .url); serve_forever() runs it."""
    try:
        return DemoServer((host, port), demo, checkpoint)
    except OSError as err:  # binding: a port in use or reserved, an address not of this machine, an unknown host
        reason = err.strerror or first_line(err)
        raise InputError(f"cannot serve on {host}:{port} ({reason}): pick another --port or --host") from err


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a TextClassifier or CausalLM checkpoint (train.py saves them under runs/)")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="the port (0: any free one)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    with input_errors_in_one_line():
        demo = load_demo(args.checkpoint, args.device)
        server = make_server(demo, args.checkpoint, args.host, args.port)
    print(f"lab-demo: the {demo.kind} page of {args.checkpoint} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("lab-demo: stopped", file=sys.stderr)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
