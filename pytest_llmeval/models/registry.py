"""Model providers: a registry that providers own.

A provider is a ``Provider`` declared by its own module: its name, how to build a model,
what identifies that model's answers and what to check before any test runs. The registry
knows where each declaration lives, not what it says: built-in providers by the table
below, packaged ones by their ``pytest_llmeval.providers`` entry point. A declaration is
imported only when its provider is named, so importing the plugin imports no provider.

Nothing here imports pytest: the ``llmeval`` command resolves providers too. A conftest's
``pytest_llmeval_make_model`` hook comes first in a pytest run (``run/providers.py``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmeval.models import ModelSettings
    from pytest_llmeval.models.base import Model

ENTRY_POINT_GROUP = "pytest_llmeval.providers"

# Where each built-in provider's declaration lives ("module:attribute", as an entry point
# says it). A packaged provider cannot take one of these names.
BUILTIN: dict[str, str] = {
    "openai": "pytest_llmeval.models.openai_provider:PROVIDER",
    "hf": "pytest_llmeval.models.hf:PROVIDER",
    "embedded": "pytest_llmeval.models.hf:EMBEDDED",
}


class SpecError(ValueError):
    """A model spec or setting that cannot work; reported as a usage error."""


@dataclass(frozen=True)
class Provider:
    """What ``--model NAME/MODEL`` means, declared by the provider's own module.

    - ``build(settings)``: the model object (see ``Model``). Keep it cheap: load weights or
      open connections on first use, so a run served from the cache never does.
    - ``identity(settings)``: what distinguishes its answers (model, revision, server...),
      from settings alone; part of every response cache key, never a secret. Default:
      provider, name, base URL and options.
    - ``check(settings, flag, url_flag)``: raise ``SpecError`` (one line) for settings that
      would fail on every sample; called before any test runs, in every process.
    - ``options``: the ``ModelSettings.options`` keys it takes (``adapter``,
      ``load_in_4bit``...); any other one given is a usage error.
    - ``requires``: module -> what to ``pip install`` when it is missing.
    """

    name: str
    build: Callable[[ModelSettings], Model]
    identity: Callable[[ModelSettings], Mapping[str, Any]] | None = None
    check: Callable[[ModelSettings, str, str], None] | None = None
    options: frozenset[str] = frozenset()
    requires: Mapping[str, str] = field(default_factory=dict)

    def identify(self, settings: ModelSettings) -> dict[str, Any]:
        if self.identity is not None:
            return dict(self.identity(settings))
        return default_identity(settings)

    def validate(
        self, settings: ModelSettings, flag: str = "--model", url_flag: str = "--llmeval-base-url"
    ) -> None:
        """Its requirements, the options it takes, then its own check."""
        for module, install in self.requires.items():
            if importlib.util.find_spec(module) is None:
                raise SpecError(f"{flag} {settings.spec!r} needs {module}: pip install {install}")
        given = sorted(set(settings.options) - self.options)
        if given:
            raise SpecError(
                f"{flag} {settings.spec!r}: {', '.join(given)} only apply to hf/ models "
                f"(not {self.name}/)"
            )
        if self.check is not None:
            self.check(settings, flag, url_flag)

    def make(self, settings: ModelSettings, flag: str = "--model") -> Model:
        try:
            return self.build(settings)
        except ImportError as exc:
            hint = self.requires.get(exc.name or "", exc.name)
            raise SpecError(f"{flag} {settings.spec!r}: {exc} (pip install {hint})") from None


def default_identity(settings: ModelSettings) -> dict[str, Any]:
    """A provider that does not say: everything its settings hold but the spec string."""
    ident: dict[str, Any] = {"provider": settings.provider, "model": settings.name}
    if settings.base_url:
        ident["base_url"] = settings.base_url
    return {**ident, **settings.options}


def names() -> list[str]:
    """Every registered provider: built-ins first, then packaged ones (none imported)."""
    return [*BUILTIN, *sorted({ep.name for ep in _entry_points()} - set(BUILTIN))]


def find(name: str, spec: str = "", flag: str = "--model") -> Provider | None:
    """The registered provider called ``name``, imported now; None if there is none."""
    where = BUILTIN.get(name)
    origin = "built in"
    if where is None:
        eps = [ep for ep in _entry_points() if ep.name == name]
        if not eps:
            return None
        ep = eps[0]
        where = ep.value
        dist = getattr(ep, "dist", None)
        origin = f"entry point of {dist.name}" if dist is not None else "entry point"
    module, _, attr = where.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as exc:
        raise SpecError(
            f"{flag} {spec!r}: provider {name!r} ({where}, {origin}) cannot be imported: {exc} "
            f"(pip install {exc.name})"
        ) from None
    except AttributeError as exc:
        raise SpecError(f"{flag} {spec!r}: provider {name!r} ({where}, {origin}): {exc}") from None
    if isinstance(obj, Provider):
        if obj.name != name:
            raise SpecError(
                f"{flag} {spec!r}: {where} ({origin}) declares provider {obj.name!r}, not {name!r}"
            )
        return obj
    if callable(obj):  # a model class or factory: the defaults for everything else
        return Provider(name, build=obj)
    raise SpecError(
        f"{flag} {spec!r}: {where} ({origin}) is neither a Provider nor a model factory"
    )


def unknown(spec: str, provider: str, flag: str = "--model", hooks: bool = False) -> SpecError:
    """The usage error for a provider nobody registered (or claimed through the hook)."""
    known = ", ".join(f"{p}/" for p in names())
    asked = "; no pytest_llmeval_make_model hook built it" if hooks else ""
    return SpecError(
        f"{flag} {spec!r}: unknown provider {provider!r} (known: {known}{asked}; a bare name "
        "such as gpt-4o-mini means openai/, a local model is hf/REPO_OR_PATH, and your own "
        f"provider is a pytest_llmeval_make_model hook or a {ENTRY_POINT_GROUP!r} entry point)"
    )


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    # Not cached: read where a provider is named (a few times per run), it stays right when
    # sys.path changes in between.
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


# -- notices ------------------------------------------------------------------------------
# Lines a provider shows the user while it works (a local model's loading, a reduced batch
# size). A pytest run routes them to its terminal (run/providers.py), where they show under
# output capture; elsewhere they go to stderr.
_notice_sink: Callable[[str], None] | None = None


def set_notice_sink(sink: Callable[[str], None] | None) -> None:
    global _notice_sink
    _notice_sink = sink


def notice(line: str) -> None:
    """Show ``line`` to the user now (not captured, not part of any result)."""
    sink = _notice_sink
    if sink is not None:
        try:
            sink(line)
            return
        except (OSError, ValueError):  # its terminal is gone (a run that has ended)
            pass
    print(line, file=sys.stderr, flush=True)
