"""Model specs (``gpt-4o-mini``, ``openai/NAME``, ``hf/REPO_OR_PATH``) and a lazy provider registry.

Providers are imported on first use so that importing the plugin never imports openai or
torch; a missing extra gives a one-line install hint.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmeval.models.base import Completion, GenerateParams, Model, ModelError

__all__ = [
    "PROVIDERS",
    "Completion",
    "GenerateParams",
    "Model",
    "ModelError",
    "ModelSettings",
    "SpecError",
    "create_model",
    "parse_spec",
]

# provider name -> (module, class, extra that installs its dependencies, module to probe)
PROVIDERS: dict[str, tuple[str, str, str, str]] = {
    "openai": ("pytest_llmeval.models.openai", "OpenAIModel", "", "openai"),
    "hf": ("pytest_llmeval.models.hf", "HFModel", "local", "transformers"),
    # the small model bundled with the package: hf/ on a directory inside it
    "embedded": ("pytest_llmeval.models.hf", "HFModel", "local", "transformers"),
}
EMBEDDED_DIR = Path(__file__).resolve().parents[1] / "embedded"
EMBEDDED_DEFAULT = "embedded/default"


DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
TIMEOUT_S = 60.0  # seconds per request
MAX_RETRIES = 4
DTYPES = ("auto", "float32", "bfloat16", "float16")  # local models' weights


class SpecError(ValueError):
    """A model spec or setting that cannot work; reported as a usage error."""


@dataclass(frozen=True)
class ModelSettings:
    """Everything needed to build a model in any process (plain data, picklable)."""

    spec: str
    base_url: str | None = None
    timeout: float = TIMEOUT_S
    max_retries: int = MAX_RETRIES
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return parse_spec(self.spec)[0]

    @property
    def name(self) -> str:
        return parse_spec(self.spec)[1]


def parse_spec(spec: str, flag: str = "--model") -> tuple[str, str]:
    """Split a spec into (provider, name); a bare name such as ``gpt-4o-mini`` means OpenAI."""
    spec = spec.strip()
    if not spec:
        raise SpecError(f"{flag}: empty model spec")
    if "/" not in spec:
        return "openai", spec
    provider, _, name = spec.partition("/")
    if provider not in PROVIDERS:
        known = ", ".join(f"{p}/" for p in PROVIDERS)
        raise SpecError(
            f"{flag} {spec!r}: unknown provider {provider!r} (known: {known}; a bare name "
            "such as gpt-4o-mini means openai/, a local model is hf/REPO_OR_PATH)"
        )
    if not name:
        raise SpecError(f"{flag} {spec!r}: missing model name after {provider!r}/")
    return provider, name


def effective_base_url(settings: ModelSettings) -> str:
    """The URL an OpenAI-compatible call goes to: the option, the SDK's env var, or OpenAI."""
    url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_URL
    return url.rstrip("/")


def embedded(settings: ModelSettings) -> ModelSettings:
    """An ``embedded/NAME`` spec as the ``hf/`` settings of the bundled directory."""
    if settings.provider != "embedded":
        return settings
    path = EMBEDDED_DIR / settings.name
    return ModelSettings(
        f"hf/{path}", settings.base_url, settings.timeout, settings.max_retries, settings.options
    )


def identity(settings: ModelSettings) -> dict[str, Any]:
    """What distinguishes a built-in model's answers, from settings alone (no imports).

    Part of every response cache key; never holds secrets.
    """
    settings = embedded(settings)
    if settings.provider == "openai":
        return {
            "provider": "openai",
            "model": settings.name,
            "base_url": effective_base_url(settings),
        }
    if settings.provider == "hf":
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
    return {"provider": settings.provider, "model": settings.name, **settings.options}


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


def check_settings(
    settings: ModelSettings, flag: str = "--model", url_flag: str = "--llmeval-base-url"
) -> None:
    """Catch what would fail on every sample before any test runs (no heavy imports)."""
    provider = settings.provider
    _module, _, extra, probe = PROVIDERS[provider]
    if importlib.util.find_spec(probe) is None:
        raise SpecError(
            f"{flag} {settings.spec!r} needs {probe}: pip install 'pytest-llmeval[{extra}]'"
            if extra
            else f"{flag} {settings.spec!r} needs {probe}: pip install {probe}"
        )
    if provider == "embedded":
        path = EMBEDDED_DIR / settings.name
        if not (path / "config.json").is_file():
            raise SpecError(
                f"{flag} {settings.spec!r}: no bundled model {settings.name!r} "
                f"(expected it in {path})"
            )
        _check_hf(embedded(settings))
    elif provider == "hf":
        _check_hf(settings)
    elif settings.options:
        given = ", ".join(sorted(settings.options))
        raise SpecError(f"{flag} {settings.spec!r}: {given} only apply to hf/ models")
    local = settings.base_url or os.environ.get("OPENAI_BASE_URL")
    if provider == "openai" and not local and not os.environ.get("OPENAI_API_KEY"):
        raise SpecError(
            f"{flag} {settings.spec!r}: OPENAI_API_KEY is not set (for a local "
            f"OpenAI-compatible server pass {url_flag} http://HOST:PORT/v1)"
        )


def _check_hf(settings: ModelSettings) -> None:
    opts = settings.options
    if opts.get("load_in_4bit") and opts.get("load_in_8bit"):
        raise SpecError("--load-in-4bit and --load-in-8bit exclude each other")
    quantized = opts.get("load_in_4bit") or opts.get("load_in_8bit")
    needs = [("bitsandbytes", "quant")] if quantized else []
    if opts.get("adapter"):
        needs.append(("peft", "finetune"))
        adapter = Path(opts["adapter"])
        if not (adapter / "adapter_config.json").is_file():
            raise SpecError(
                f"--adapter {adapter}: no adapter_config.json there (a PEFT "
                "adapter directory, as save_pretrained writes it)"
            )
    for module, extra in needs:
        if importlib.util.find_spec(module) is None:
            raise SpecError(
                f"--model {settings.spec!r} needs {module}: pip install 'pytest-llmeval[{extra}]'"
            )
    name = Path(settings.name)
    if (name.is_absolute() or settings.name.startswith(".")) and not name.is_dir():
        raise SpecError(f"--model {settings.spec!r}: no model directory at {name}")


def create_model(settings: ModelSettings) -> Model:
    """Build the provider's model object; imports the provider module now."""
    module, cls, extra, probe = PROVIDERS[settings.provider]
    shown, settings = settings.spec, embedded(settings)
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        hint = f"pip install 'pytest-llmeval[{extra}]'" if extra else f"pip install {probe}"
        raise SpecError(f"--model {settings.spec!r}: {exc} ({hint})") from None
    model: Model = getattr(mod, cls)(settings)
    model.spec = shown
    return model
