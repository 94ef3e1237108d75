"""Convert a local HF Llama with a home-made byte-level BPE tokenizer (tests/tinymodel.py) to
an f32 GGUF with llama.cpp's own converter, offline.

    python scripts/gguf_convert.py LLAMA_CPP_DIR MODEL_DIR OUT.gguf

LLAMA_CPP_DIR holds ``convert_hf_to_gguf.py``, ``conversion/`` and ``gguf-py/`` from
``vendor/llama.cpp`` of the llama-cpp-python sdist; ``scripts/build_llama_cpp_wheel.sh`` puts
them in ``~/.cache/pytest-llmeval/llama.cpp-<version>``. Needs torch, numpy and safetensors.

The stock converter (llama-cpp-python 0.3.36) refuses such a tokenizer twice, so two of its
methods are replaced before it runs:

* it tries sentencepiece first and only catches FileNotFoundError, while a missing
  sentencepiece package raises ModuleNotFoundError: that attempt now raises FileNotFoundError;
* it only accepts BPE pre-tokenizers of published models, recognised by hash: ours is GPT-2's
  ByteLevel pre-tokenizer, so it is reported as "gpt-2".
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any, NoReturn


def _not_sentencepiece(self: Any) -> NoReturn:
    raise FileNotFoundError("no tokenizer.model: not a sentencepiece tokenizer")


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        sys.exit(__doc__)
    llama_dir, model_dir, out = argv
    sys.path[:0] = [llama_dir, os.path.join(llama_dir, "gguf-py")]
    from conversion import base  # llama.cpp's converter package, from llama_dir

    for name in ("_create_vocab_sentencepiece", "get_vocab_base_pre"):
        if not hasattr(base.TextModel, name):  # a converter this patch was not written for
            sys.exit(f"{llama_dir}: conversion.base.TextModel has no {name}; update this script")
    base.TextModel._create_vocab_sentencepiece = _not_sentencepiece
    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
    sys.argv = ["convert_hf_to_gguf.py", model_dir, "--outfile", out, "--outtype", "f32"]
    runpy.run_path(os.path.join(llama_dir, "convert_hf_to_gguf.py"), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
