"""Local Hugging Face models: ``hf/REPO_OR_PATH``, optionally 4-/8-bit and with a LoRA adapter.

Loaded once per process (under xdist, once: it lives in the controller's engine), and fed
in batches across items by the engine: ``agenerate_batch`` runs left-padded ``generate``
calls in a thread, so the event loop keeps serving items meanwhile. A batch that runs out
of device memory is halved and retried. Also declares the ``hf/`` and ``embedded/``
providers (end of the module).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib.util
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_llmeval.models import ModelSettings, hf_tools, structured
from pytest_llmeval.models.base import Completion, GenerateParams, Message, ModelError
from pytest_llmeval.models.registry import Provider, SpecError, notice
from pytest_llmeval.models.tools import template_messages

# bitsandbytes logs a harmless "kernels" notice at import and one line per 8-bit forward.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


class HFModel:
    """``AutoModelForCausalLM`` + ``AutoTokenizer`` behind the model protocol."""

    def __init__(self, settings: ModelSettings) -> None:
        self.spec = settings.spec
        self.name = settings.name
        self.settings = settings
        self.options = settings.options
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = asyncio.Lock()  # one generate at a time on one device
        self._fits: int | None = None  # the batch size that fit after running out of memory
        self._formats: Counter[tuple[str, bool]] = Counter()  # (format, valid) replies
        self._tool_template: Any = None  # reads calls back (hf_tools), found on first use
        self._tool_choices: Counter[str] = Counter()  # tool_choice values it cannot enforce

    def identity(self) -> dict[str, Any]:
        from pytest_llmeval.models import identity

        return identity(self.settings)

    # -- loading ---------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise ModelError(
                f"--model {self.spec}: {exc.name} is missing: pip install 'pytest-llmeval[local]'"
            ) from None
        opts = self.options
        cuda = torch.cuda.is_available()
        dtype = _dtype(torch, opts.get("dtype", "auto"), cuda)
        # False, not None: transformers would otherwise stop to ask on the terminal
        shared: dict[str, Any] = {"trust_remote_code": bool(opts.get("trust_remote_code"))}
        if opts.get("revision"):
            shared["revision"] = opts["revision"]
        kwargs: dict[str, Any] = {"dtype": dtype, **shared}
        what = [str(dtype).removeprefix("torch.")]
        what.append(f"cuda x{torch.cuda.device_count()}" if cuda else "cpu")
        if opts.get("load_in_4bit") or opts.get("load_in_8bit"):
            try:
                import bitsandbytes  # noqa: F401
            except ImportError:
                raise ModelError(
                    f"--model {self.spec}: 4/8-bit loading needs bitsandbytes: "
                    "pip install 'pytest-llmeval[quant]'"
                ) from None
            if opts.get("load_in_4bit"):
                kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=dtype,
                )
                what.append("4-bit NF4")
            else:
                kwargs["quantization_config"] = transformers.BitsAndBytesConfig(load_in_8bit=True)
                what.append("8-bit")
        if cuda:
            kwargs["device_map"] = "auto"
        if opts.get("adapter"):
            what.append(f"adapter {opts['adapter']}")
        # A large model takes minutes to load, all of it before the first item's answer:
        # say so (to the terminal, under capture too) rather than sit silent.
        notice(f"llmeval: loading {self.spec} ({', '.join(what)}) ...")
        start = time.perf_counter()
        try:
            tok = transformers.AutoTokenizer.from_pretrained(self.name, **shared)
            model: Any = transformers.AutoModelForCausalLM.from_pretrained(self.name, **kwargs)
        except OSError as exc:  # not found locally and no hub access, bad revision...
            raise ModelError(f"--model {self.spec}: cannot load: {exc}".splitlines()[0]) from None
        except ValueError as exc:
            if "trust_remote_code" in str(exc):
                raise ModelError(
                    f"--model {self.spec}: cannot load: the model ships its own code; pass "
                    "--llmeval-trust-remote-code to run it (only for a model you trust)"
                ) from None
            raise ModelError(f"--model {self.spec}: cannot load: {exc}".splitlines()[0]) from None
        if opts.get("adapter"):
            try:
                import peft
            except ImportError:
                raise ModelError("--adapter needs peft: pip install peft") from None
            model = peft.PeftModel.from_pretrained(model, opts["adapter"])
        model.eval()
        tok.padding_side = "left"  # decoder-only batching: prompts end where generation starts
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self._model, self._tokenizer = model, tok
        footprint = getattr(model, "get_memory_footprint", None)
        size = f", {_size(footprint())}" if callable(footprint) else ""
        notice(f"llmeval: loaded {self.spec} in {time.perf_counter() - start:.1f} s{size}")

    def _prompt(
        self, messages: Sequence[Message], params: GenerateParams | None = None
    ) -> tuple[str, bool]:
        """The chat-templated prompt (with the offered tools), or a plain transcript for
        models without a template; the flag says whether the tokenizer should still add its
        special tokens. Messages reach the template as they are, calls with their arguments
        as objects; a field the template does not read (most ignore ``name``) is dropped."""
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            tools = hf_tools.offered(params) if params is not None else None
            text = tok.apply_chat_template(
                template_messages(messages),
                add_generation_prompt=True,
                tokenize=False,
                **({"tools": tools} if tools else {}),
            )
            return str(text), False
        lines = [f"{m['role'].capitalize()}: {m.get('content') or ''}" for m in messages]
        return "\n".join([*lines, "Assistant:"]), True

    # -- generation ------------------------------------------------------------------------
    async def agenerate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        (comp,) = await self.agenerate_batch([(messages, params)])
        if isinstance(comp, ModelError):
            raise comp
        return comp

    async def agenerate_batch(
        self, requests: Sequence[tuple[Sequence[Message], GenerateParams]]
    ) -> list[Completion | ModelError]:
        """One completion per request (they share params: the engine groups them), or the
        error of a request that runs out of memory even alone."""
        async with self._lock:
            return await asyncio.to_thread(self._generate, requests)

    def _generate(
        self, requests: Sequence[tuple[Sequence[Message], GenerateParams]]
    ) -> list[Completion | ModelError]:
        """``generate`` in batches of the size known to fit: out of memory, a batch is
        halved and retried, and the smaller size kept for the rest of the session; only a
        request that does not fit alone is an error (that request's alone)."""
        import torch

        if self._model is None:
            self._load()
        if self._tool_template is None and any(hf_tools.offered(p) for _, p in requests):
            # before any generate: a model that cannot call tools ends the run at once
            self._tool_template = hf_tools.response_template(
                self._tokenizer, self._model, self.spec
            )
        oom = _oom_error(torch)
        out: list[Completion | ModelError] = []
        before, failed_at, i = self._fits, 0, 0
        while i < len(requests):
            size = min(self._fits or len(requests), len(requests) - i)
            chunk = requests[i : i + size]
            try:
                out += self._generate_once(chunk)
                i += size
                continue
            except oom as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
            # outside the handler: its traceback no longer holds the batch's tensors
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if size == 1:
                out.append(
                    ModelError(f"{self.spec}: out of memory on this request alone: {reason}")
                )
                i += 1
            else:
                failed_at = max(failed_at, size)
                self._fits = size // 2
        if self._fits != before:
            notice(
                f"llmeval: {self.spec} ran out of memory on a batch of {failed_at}; "
                f"batches of at most {self._fits} for the rest of the session"
            )
        return out

    def _generate_once(
        self, requests: Sequence[tuple[Sequence[Message], GenerateParams]]
    ) -> list[Completion]:
        import torch

        tok, model = self._tokenizer, self._model
        params = requests[0][1]
        prompts = [self._prompt(messages, p) for messages, p in requests]
        add_special = prompts[0][1]
        enc = tok(
            [p for p, _ in prompts],
            return_tensors="pt",
            padding=True,
            add_special_tokens=add_special,
        )
        # what a decoder-only model generates from: a tokenizer that also returns
        # token_type_ids (BERT-style configs) would make transformers < 5 refuse the call
        enc = {k: enc[k].to(model.device) for k in ("input_ids", "attention_mask")}
        # every end token the model's generation config lists (a chat model often has
        # several, such as <|eot_id|> and <|end_of_text|>), not just the tokenizer's one
        eos = _eos_ids(model, tok)
        gen: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": eos or None,
        }
        if params.stop:  # stop generating there, rather than cut a finished reply
            gen.update(stop_strings=list(params.stop), tokenizer=tok)
        if params.temperature > 0:
            gen.update(do_sample=True, temperature=params.temperature)
            if params.top_p is not None:
                gen["top_p"] = params.top_p
            if params.seed is not None:
                torch.manual_seed(params.seed)
        else:
            gen["do_sample"] = False
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                out = model.generate(**enc, **gen)
        except _oom_error(torch):
            raise  # _generate halves the batch
        except RuntimeError as exc:  # a device error and friends: an error item, not a crash
            raise ModelError(f"{self.spec}: generate failed: {exc}".splitlines()[0]) from None
        latency = (time.perf_counter() - start) * 1000.0
        width = enc["input_ids"].shape[1]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        ends = set(eos)
        results = []
        rows = zip(out[:, width:].tolist(), prompt_lens, requests, prompts, strict=True)
        for row, n_prompt, (_, own), (prompt, _) in rows:
            n_new, finish = len(row), "length"
            for i, token in enumerate(row):
                if token in ends:
                    n_new, finish = i + 1, "stop"
                    break
            text = tok.decode(row[:n_new], skip_special_tokens=True)
            text, stopped = _apply_stop(text, params.stop)
            if stopped and finish == "length":
                # a stop string ended this row: what follows it is the batch's padding
                while n_new and row[n_new - 1] == tok.pad_token_id:
                    n_new -= 1
                finish = "stop"
            metadata: dict[str, Any] = {"batch_size": len(requests)}
            calls: tuple[Any, ...] = ()
            tools = hf_tools.offered(own)
            if tools:
                reply = hf_tools.read_reply(
                    tok, self._tool_template, row[:n_new], prompt, tools, text
                )
                text, calls = reply.text, reply.calls
                if reply.parse_error:
                    metadata["tool_call_parse_error"] = reply.parse_error
                if own.tool_choice not in (None, "auto"):
                    self._tool_choices[json.dumps(own.tool_choice, sort_keys=True)] += 1
            results.append(
                Completion(
                    text=text,
                    finish_reason="tool_calls" if calls and finish == "stop" else finish,
                    prompt_tokens=int(n_prompt),
                    completion_tokens=n_new,
                    latency_ms=latency,
                    model=self.name,
                    metadata=metadata,
                    tool_calls=calls,
                )
            )
        return self._checked(requests, results)

    def _checked(
        self,
        requests: Sequence[tuple[Sequence[Message], GenerateParams]],
        results: list[Completion],
    ) -> list[Completion]:
        """No constrained decoding here: a reply to a ``response_format`` request is checked
        against it instead, in its metadata and in the session's report."""
        out = []
        for (_, params), comp in zip(requests, results, strict=True):
            check = structured.check_reply(comp.text, params)
            if check is not None:
                self._formats[check["format"], check["valid"]] += 1
                comp = dataclasses.replace(
                    comp, metadata={**comp.metadata, "structured_output": check}
                )
            out.append(comp)
        return out

    def request_report(self) -> dict[str, Any]:
        """What the summary and the run's parameters say about response_format and
        tool_choice, neither of which a local model can be held to."""
        notes = []
        for choice, n in sorted(self._tool_choices.items()):
            notes.append(
                f"{self.spec} cannot enforce tool_choice {choice} (no constrained decoding): "
                f"{n} requests offered the tools and read whatever it called"
            )
        for fmt in sorted({f for f, _ in self._formats}):
            bad, good = self._formats[fmt, False], self._formats[fmt, True]
            notes.append(
                f"{self.spec} cannot enforce response_format {fmt} (no constrained decoding): "
                f"checked instead, {good} of {good + bad} replies matched"
            )
        return {"notes": notes}

    async def aclose(self) -> None:
        self._model = self._tokenizer = None


def _apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for s in stop if (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _dtype(torch: Any, name: str, cuda: bool) -> Any:
    if name == "auto":
        if cuda:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32  # CPUs: half precision is slow or unsupported
    return getattr(torch, name)


def _eos_ids(model: Any, tok: Any) -> list[int]:
    """The ids generation ends on: the model's generation config (one id or a list), else
    the tokenizer's end token."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tok.eos_token_id
    if ids is None:
        return []
    return [int(ids)] if isinstance(ids, int) else [int(i) for i in ids]


def _oom_error(torch: Any) -> type[BaseException]:
    """torch.OutOfMemoryError (torch >= 2.5), torch.cuda.OutOfMemoryError before."""
    found = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return found  # type: ignore[no-any-return]


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


# -- the hf/ and embedded/ providers (see models/registry.py) -----------------------------
LOCAL_OPTIONS = frozenset(
    {"load_in_4bit", "load_in_8bit", "adapter", "dtype", "revision", "trust_remote_code"}
)
_REQUIRES = {"transformers": "'pytest-llmeval[local]'", "torch": "'pytest-llmeval[local]'"}


def _identity(settings: ModelSettings) -> dict[str, Any]:
    """What distinguishes a local model's answers: the checkpoint (by its files when it is
    a directory), quantization, dtype and adapter. Not trust_remote_code: it decides
    whether a model loads, not what it answers (its code is among the files hashed)."""
    opts = settings.options
    path = Path(settings.name)
    local = path.is_dir()
    quant = (
        "nf4-double-quant"
        if opts.get("load_in_4bit")
        else ("int8" if opts.get("load_in_8bit") else None)
    )
    return {
        "provider": "hf",
        "model": str(path.resolve()) if local else settings.name,
        # a local checkpoint can be retrained in place: its files say which one it is
        "revision": opts.get("revision") or (_fingerprint(path) if local else None),
        "quantization": quant,
        "dtype": opts.get("dtype", "auto"),
        "adapter": _fingerprint(Path(opts["adapter"]), content=True)
        if opts.get("adapter")
        else None,
    }


def _fingerprint(path: Path, content: bool = False) -> str:
    """A checkpoint directory's identity: config files by content, weights by size and
    mtime (hashing gigabytes on every run would cost seconds); ``content`` hashes all."""
    h = hashlib.sha256()
    if not path.exists():
        return "missing"
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(f.relative_to(path).as_posix().encode() if f != path else b"")
        small = f.suffix in (".json", ".jinja", ".txt", ".model") or f.stat().st_size < 1 << 20
        if content or small:
            h.update(f.read_bytes())
        else:
            st = f.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _check(settings: ModelSettings, flag: str, url_flag: str) -> None:
    opts = settings.options
    if opts.get("load_in_4bit") and opts.get("load_in_8bit"):
        raise SpecError("--load-in-4bit and --load-in-8bit exclude each other")
    quantized = opts.get("load_in_4bit") or opts.get("load_in_8bit")
    needs = [("bitsandbytes", "'pytest-llmeval[quant]'")] if quantized else []
    if opts.get("adapter"):
        needs.append(("peft", "peft"))  # peft alone: the finetune extra also pulls trl
        adapter = Path(opts["adapter"])
        if not (adapter / "adapter_config.json").is_file():
            raise SpecError(
                f"--adapter {adapter}: no adapter_config.json there (a PEFT "
                "adapter directory, as save_pretrained writes it)"
            )
    for module, install in needs:
        if importlib.util.find_spec(module) is None:
            raise SpecError(f"{flag} {settings.spec!r} needs {module}: pip install {install}")
    name = Path(settings.name)
    if (name.is_absolute() or settings.name.startswith(".")) and not name.is_dir():
        raise SpecError(f"{flag} {settings.spec!r}: no model directory at {name}")
    config = name / "config.json"
    remote_code = config.is_file() and '"auto_map"' in config.read_text()
    if remote_code and not opts.get("trust_remote_code"):
        raise SpecError(
            f"{flag} {settings.spec!r}: the model ships its own code (auto_map in "
            f"{config}); pass --llmeval-trust-remote-code to run it (only for a model you trust)"
        )


PROVIDER = Provider(
    "hf",
    build=HFModel,
    identity=_identity,
    check=_check,
    options=LOCAL_OPTIONS,
    requires=_REQUIRES,
)


# embedded/NAME: the small model bundled with the package, hf/ on a directory inside it
def _bundled(settings: ModelSettings) -> ModelSettings:
    from pytest_llmeval.models import EMBEDDED_DIR

    path = EMBEDDED_DIR / settings.name
    return ModelSettings(
        f"hf/{path}", settings.base_url, settings.timeout, settings.max_retries, settings.options
    )


def _build_embedded(settings: ModelSettings) -> HFModel:
    model = HFModel(_bundled(settings))
    model.spec = settings.spec  # what the user named, in messages and stored runs
    return model


def _check_embedded(settings: ModelSettings, flag: str, url_flag: str) -> None:
    path = _bundled(settings).name
    if not (Path(path) / "config.json").is_file():
        raise SpecError(
            f"{flag} {settings.spec!r}: no bundled model {settings.name!r} (expected it in {path})"
        )
    _check(_bundled(settings), flag, url_flag)


EMBEDDED = Provider(
    "embedded",
    build=_build_embedded,
    identity=lambda settings: _identity(_bundled(settings)),
    check=_check_embedded,
    options=LOCAL_OPTIONS,
    requires=_REQUIRES,
)
