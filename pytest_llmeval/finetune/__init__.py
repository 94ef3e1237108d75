"""LoRA/QLoRA finetuning on an eval suite's training split (extra ``finetune``).

``python -m pytest_llmeval.finetune --config finetune/llama-3.2-3b-4090.yaml [--dry-run]``;
see ``cli.py``. The pytest plugin never imports this package.
"""

from __future__ import annotations
