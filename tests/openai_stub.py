"""A tiny OpenAI-compatible `/v1/completions` server for tests: a thread with http.server,
answering with log-probabilities a real (tiny) causal LM computes.

It speaks the part of the protocol lm-eval's `local-completions` uses for multiple-choice
tasks: `echo: true, max_tokens: 1, logprobs: 1`, prompts as token ids (or text), and it
answers with every prompt token's log-probability plus one greedy token. It records the
length of every prompt it was sent, so a test can check that nothing was cut on the way.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class CompletionsStub:
    """Serve `model_dir` at `self.base_url` until `close()` (or the end of a `with`)."""

    def __init__(self, model_dir: Path, served_name: str = "tiny-served"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.served_name = served_name
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.prompt_lengths: list[int] = []
        self._lock = threading.Lock()  # one forward at a time: the model is not thread-safe
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/completions" or not body.get("echo") or body.get("max_tokens") != 1:
                    self.send_error(400, "this stub answers echo log-probability requests only")
                    return
                answer = json.dumps(stub.complete(body)).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/completions"

    def complete(self, body: dict) -> dict:
        prompts = body["prompt"]
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
            prompts = [prompts]
        choices = []
        for index, prompt in enumerate(prompts):
            ids = (
                self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
                if isinstance(prompt, str)
                else prompt
            )
            choices.append({"index": index, **self._echo(list(ids))})
        return {"object": "text_completion", "model": body.get("model"), "choices": choices}

    def _echo(self, ids: list[int]) -> dict:
        import torch

        with self._lock, torch.no_grad():
            self.prompt_lengths.append(len(ids))
            logits = self.model(torch.tensor([ids])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        best = logprobs.max(dim=-1)
        token_logprobs: list[float | None] = [None]
        top: list[dict[str, float] | None] = [None]
        for position in range(1, len(ids)):
            token_logprobs.append(float(logprobs[position - 1, ids[position]]))
            top.append({self._text(int(best.indices[position - 1])): float(best.values[position - 1])})
        generated = int(best.indices[-1])
        token_logprobs.append(float(best.values[-1]))
        top.append({self._text(generated): float(best.values[-1])})
        return {
            "text": self.tokenizer.decode(ids + [generated]),
            "logprobs": {"token_logprobs": token_logprobs, "top_logprobs": top},
            "finish_reason": "length",
        }

    def _text(self, token_id: int) -> str:
        return self.tokenizer.convert_ids_to_tokens(token_id)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> CompletionsStub:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
