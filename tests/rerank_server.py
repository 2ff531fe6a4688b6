"""A stand-in rerank server for tests and benchmarks: a real HTTP server on 127.0.0.1 that
answers ``POST /rerank`` the way text-embeddings-inference does (or the Cohere/Jina way).

It is NOT a reranking model. It scores each text by the share of the query's terms that the text
contains (Chinese: single Han characters; other scripts: lower-cased words of letters and
digits), so its answers are deterministic and cheap. It exists to exercise the HTTP adapter
(order, shapes, batching, keys, failures) and to measure what the rerank stage costs besides the
model itself (serialisation, the round trip, re-ordering); it says nothing about quality.

    with rerank_server() as url:                   # e.g. "http://127.0.0.1:40123"
        HttpReranker(url).rerank("query", ["text", ...])

Options: ``delay_s`` sleeps before each answer; ``fail`` answers HTTP 500; ``shape`` is ``"tei"``
(a list of ``{"index", "score"}``, best first, as TEI sends it), ``"cohere"`` (``{"results":
[{"index", "relevance_score"}]}``) or ``"broken"`` (a body that is not JSON); ``logits`` sends
raw log-odds (outside 0..1) instead of scores in 0..1; ``max_batch`` refuses larger batches with
HTTP 413, as TEI does; ``requests``, when given a list, receives one ``{"headers", "body"}`` per
request served."""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+")


def terms(text: str) -> set[str]:
    """Han characters one by one, and the other runs of letters and digits lower-cased."""
    han = set(_HAN.findall(text))
    words = {word.lower() for word in _WORD.findall(_HAN.sub(" ", text))}
    return han | words


def overlap_score(query: str, text: str) -> float:
    """The share of the query's terms found in the text, in 0..1 (0 for a query without terms)."""
    wanted = terms(query)
    return len(wanted & terms(text)) / len(wanted) if wanted else 0.0


def _logit(score: float) -> float:
    clipped = min(max(score, 1e-4), 1 - 1e-4)
    return math.log(clipped / (1 - clipped))


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow answer never holds up the close

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out) is expected here; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def rerank_server(
    delay_s: float = 0,
    fail: bool = False,
    shape: Literal["tei", "cohere", "broken"] = "tei",
    *,
    logits: bool = False,
    max_batch: int | None = None,
    requests: list[dict[str, Any]] | None = None,
) -> Iterator[str]:
    """Serve on a free port of 127.0.0.1 in a thread; yields the base URL (no trailing slash)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
        disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/rerank":
                self._send(404, {"error": "not found"})
                return
            try:
                body = json.loads(raw)
                query, texts = body["query"], body["texts"]
                if not isinstance(query, str) or not isinstance(texts, list):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                self._send(422, {"error": "expected {query: str, texts: [str]}", "error_type": "Validation"})
                return
            if requests is not None:
                requests.append({"headers": dict(self.headers.items()), "body": body})
            if delay_s:
                time.sleep(delay_s)
            if fail:
                self._send(500, {"error": "stand-in told to fail", "error_type": "Backend"})
                return
            if max_batch is not None and len(texts) > max_batch:
                self._send(413, {"error": f"batch size {len(texts)} > maximum allowed batch size {max_batch}"})
                return
            scores = [overlap_score(query, str(text)) for text in texts]
            if logits:
                scores = [_logit(score) for score in scores]
            best_first = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
            if shape == "broken":
                self._send_raw(200, b"<html>not a rerank answer</html>", "text/html")
            elif shape == "cohere":
                results = [{"index": i, "relevance_score": scores[i]} for i in best_first]
                self._send(200, {"results": results, "model": body.get("model", "stand-in")})
            else:
                self._send(200, [{"index": i, "score": scores[i]} for i in best_first])

        def _send(self, status: int, payload: object) -> None:
            self._send_raw(status, json.dumps(payload).encode(), "application/json")

        def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="rerank-stand-in", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
