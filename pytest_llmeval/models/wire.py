"""POST a chat-completions request the way the openai SDK sends it, on a bare aiohttp session.

The SDK's client costs more than the request it sends: ``import openai`` is about a second
of a short run's start (pydantic, httpx and every typed resource), and each call about 1 ms
of CPU against 0.2 ms for aiohttp alone, which caps a run at a few hundred samples a second
on two cores. The provider only ever needs one call (``POST /chat/completions`` with a JSON
body, the reply as plain JSON), so this module sends it directly, with what the SDK puts on
the wire (bearer key, ``OpenAI-Organization``/``OpenAI-Project`` from the environment, JSON
headers, the same connect and read timeouts, proxies and CA bundle from the environment)
and reports failures as the SDK's classes of failure: an HTTP error status with the
server's body, a timeout, or a connection that could not be made or was lost.

The SDK stays the transport where aiohttp is missing (see ``models/openai.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from pytest_llmeval import __version__

NO_KEY = (
    "The api_key client option must be set either by passing api_key to the client or by "
    "setting the OPENAI_API_KEY environment variable"
)


@dataclass
class StatusError(Exception):
    """An HTTP error status: ``body`` is the reply's JSON (its ``error`` member when it has
    one, as the SDK's ``APIStatusError.body``) or its text."""

    status: int
    body: Any
    text: str
    headers: Any

    @property
    def code(self) -> Any:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def param(self) -> Any:
        return self.body.get("param") if isinstance(self.body, dict) else None

    @property
    def message(self) -> str:
        """The SDK's own error message, the last resort for a reason."""
        inner = self.body.get("message") if isinstance(self.body, dict) else None
        extra = f" - {inner}" if isinstance(inner, str) and inner else ""
        return f"Error code: {self.status}{extra}"


class TransportError(Exception):
    """No reply: ``kind`` is ``connect`` (not connected, or the connection was lost: the
    SDK's aiohttp transport reports both as a connect timeout), ``timeout`` (connected, no
    answer in time) or ``other``; ``name`` is the SDK's name for it."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


def _ssl_context() -> ssl.SSLContext:
    """httpx's choice: SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi's bundle."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with the openai SDK
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class ChatClient:
    """One aiohttp session (one connection pool) for one server, made inside its loop."""

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"pytest-llmeval/{__version__}",
            "Authorization": f"Bearer {api_key}",
        }
        for env, name in (("OPENAI_ORG_ID", "OpenAI-Organization"),
                          ("OPENAI_PROJECT_ID", "OpenAI-Project")):  # fmt: skip
            value = os.environ.get(env)
            if value:
                headers[name] = value
        self._headers = headers
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
        )
        ssl_context = _ssl_context() if self.url.startswith("https:") else None
        # HTTP(S)_PROXY and NO_PROXY, as the SDK's client, looked up once: aiohttp's
        # trust_env looks up the proxy and ~/.netrc on a worker thread for every request
        # (two thread hand-offs each), and a netrc entry would clash with the bearer key.
        self._proxy: Any = None
        self._proxy_auth: Any = None
        with contextlib.suppress(LookupError):
            self._proxy, self._proxy_auth = get_env_proxy_for_url(URL(self.url))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, ssl=ssl_context or True),
            json_serialize=json.dumps,
        )

    async def post(self, body: dict[str, Any]) -> tuple[int, Any]:
        """``(status, reply)`` for a 2xx: the JSON reply, or its text when the server did
        not say JSON (as the SDK returns it). Raises ``StatusError`` or
        ``TransportError``."""
        try:
            async with self._session.post(
                self.url,
                data=json.dumps(body).encode(),
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            ) as response:
                raw = await response.read()
                status = response.status
                ctype = response.headers.get("content-type", "*").split(";")[0]
                headers = response.headers
        except aiohttp.ClientConnectorError as exc:
            raise TransportError("connect", "ConnectTimeout", str(exc)) from None
        except aiohttp.SocketTimeoutError as exc:
            raise TransportError("timeout", "ReadTimeout", str(exc)) from None
        except aiohttp.ClientConnectionError as exc:  # incl. ConnectionTimeoutError
            raise TransportError("connect", "ConnectTimeout", str(exc)) from None
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TransportError("timeout", "TimeoutException", str(exc)) from None
        except aiohttp.ClientError as exc:
            raise TransportError("other", type(exc).__name__, str(exc)) from None
        text = raw.decode("utf-8", errors="replace")
        if not 200 <= status < 300:
            body_text = text.strip()
            parsed: Any = body_text
            with contextlib.suppress(ValueError):
                parsed = json.loads(body_text)
            error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
            raise StatusError(status, error, text, headers)
        if not ctype.endswith("json"):
            return status, text
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text  # not JSON after all: "no usable choice"

    async def aclose(self) -> None:
        await self._session.close()
