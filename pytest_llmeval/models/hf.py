"""Local Hugging Face models: ``hf/REPO_OR_PATH``, optionally 4-/8-bit and with a LoRA adapter.

Loaded once per process (under xdist, once: it lives in the controller's engine), and fed
in batches across items by the engine: ``agenerate_batch`` runs one left-padded
``generate`` call in a thread, so the event loop keeps serving items meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pytest_llmeval.models import ModelSettings, structured
from pytest_llmeval.models.base import Completion, GenerateParams, Message, ModelError

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
        self._formats: Counter[tuple[str, bool]] = Counter()  # (format, valid) replies

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
        kwargs: dict[str, Any] = {"dtype": dtype}
        if opts.get("revision"):
            kwargs["revision"] = opts["revision"]
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
            else:
                kwargs["quantization_config"] = transformers.BitsAndBytesConfig(load_in_8bit=True)
        if cuda:
            kwargs["device_map"] = "auto"
        try:
            tok = transformers.AutoTokenizer.from_pretrained(
                self.name, revision=opts.get("revision")
            )
            model: Any = transformers.AutoModelForCausalLM.from_pretrained(self.name, **kwargs)
        except OSError as exc:  # not found locally and no hub access, bad revision...
            raise ModelError(f"--model {self.spec}: cannot load: {exc}".splitlines()[0]) from None
        if opts.get("adapter"):
            try:
                import peft
            except ImportError:
                raise ModelError(
                    "--adapter needs peft: pip install 'pytest-llmeval[finetune]'"
                ) from None
            model = peft.PeftModel.from_pretrained(model, opts["adapter"])
        model.eval()
        tok.padding_side = "left"  # decoder-only batching: prompts end where generation starts
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self._model, self._tokenizer = model, tok

    def _prompt(self, messages: Sequence[Message]) -> tuple[str, bool]:
        """The chat-templated prompt, or a plain transcript for models without a template;
        the flag says whether the tokenizer should still add its special tokens."""
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(
                [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
            )
            return str(text), False
        lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n".join([*lines, "Assistant:"]), True

    # -- generation ------------------------------------------------------------------------
    async def agenerate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        (comp,) = await self.agenerate_batch([(messages, params)])
        return comp

    async def agenerate_batch(
        self, requests: Sequence[tuple[Sequence[Message], GenerateParams]]
    ) -> list[Completion]:
        """One ``generate`` over all requests (they share params: the engine groups them)."""
        async with self._lock:
            return await asyncio.to_thread(self._generate, requests)

    def _generate(
        self, requests: Sequence[tuple[Sequence[Message], GenerateParams]]
    ) -> list[Completion]:
        import torch

        if self._model is None:
            self._load()
        tok, model = self._tokenizer, self._model
        params = requests[0][1]
        prompts = [self._prompt(messages) for messages, _ in requests]
        add_special = prompts[0][1]
        enc = tok(
            [p for p, _ in prompts],
            return_tensors="pt",
            padding=True,
            add_special_tokens=add_special,
        )
        enc = {k: v.to(model.device) for k, v in enc.items()}
        gen: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
        }
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
        except RuntimeError as exc:  # CUDA OOM and friends: an error item, not a crash
            raise ModelError(f"{self.spec}: generate failed: {exc}".splitlines()[0]) from None
        latency = (time.perf_counter() - start) * 1000.0
        width = enc["input_ids"].shape[1]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        eos = (
            {tok.eos_token_id} if isinstance(tok.eos_token_id, int) else set(tok.eos_token_id or ())
        )
        results = []
        for row, n_prompt in zip(out[:, width:].tolist(), prompt_lens, strict=True):
            n_new, finish = len(row), "length"
            for i, token in enumerate(row):
                if token in eos:
                    n_new, finish = i + 1, "stop"
                    break
            text = tok.decode(row[:n_new], skip_special_tokens=True)
            text, stopped = _apply_stop(text, params.stop)
            results.append(
                Completion(
                    text=text,
                    finish_reason="stop" if stopped else finish,
                    prompt_tokens=int(n_prompt),
                    completion_tokens=n_new,
                    latency_ms=latency,
                    model=self.name,
                    metadata={"batch_size": len(requests)},
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
        """What the summary and the run's parameters say about response_format."""
        notes = []
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
