"""pytest-llmeval: LLM evals as pytest tests.

Importing this package (and the pytest plugin) stays cheap: no torch, transformers or
openai is imported until a model that needs it is used.
"""

from __future__ import annotations

__version__ = "0.1.0"
