from __future__ import annotations

from pytest_llmeval.finetune.cli import main

raise SystemExit(main())
