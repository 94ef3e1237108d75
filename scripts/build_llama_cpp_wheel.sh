#!/usr/bin/env bash
# llama-cpp-python for the llama.cpp column of tests/models/test_conformance.py, which skips without it.
#
#   scripts/build_llama_cpp_wheel.sh            # into the active Python (activate the venv first)
#   PYTHON=/path/to/python scripts/build_llama_cpp_wheel.sh
#
# PyPI has llama-cpp-python only as a sdist, which compiles llama.cpp for 6 to 13 minutes on
# 2 cores. This builds its wheel once (portable: no -march=native, no curl), caches it, and
# then installs it with its [server] extra under the project's constraints. It also unpacks
# llama.cpp's GGUF converter (convert_hf_to_gguf.py, conversion/, gguf-py/) from the same
# sdist, which the tests run offline on their tiny model (scripts/gguf_convert.py).
#
# Cache: ${XDG_CACHE_HOME:-~/.cache}/pytest-llmeval/wheels (the sdist and the wheel) and
# .../llama.cpp-VERSION (the converter). A second run installs from the cache in seconds.
# Only PyPI is reached, and only when the cache is empty.
set -euo pipefail
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
PYTHON="${PYTHON:-python}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pytest-llmeval"
WHEELS="$CACHE/wheels"
SRC="$CACHE/llama.cpp-$VERSION"
SDIST="$WHEELS/llama_cpp_python-$VERSION.tar.gz"
mkdir -p "$WHEELS"

if [ ! -f "$SDIST" ]; then
  "$PYTHON" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WHEELS"
fi

find_wheel() { find "$WHEELS" -maxdepth 1 -name "llama_cpp_python-$VERSION-*.whl" | head -1; }
WHEEL="$(find_wheel)"
if [ -z "$WHEEL" ]; then
  echo "building llama-cpp-python $VERSION (6 to 13 minutes on 2 cores)..."
  start=$SECONDS
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$PYTHON" -m pip wheel -q --no-deps "$SDIST" -w "$WHEELS"
  WHEEL="$(find_wheel)"
  echo "built $(basename "$WHEEL") in $((SECONDS - start)) s"
fi

"$PYTHON" -m pip install -q -c "$REPO/constraints.txt" "$WHEEL[server]"

if [ ! -f "$SRC/convert_hf_to_gguf.py" ]; then
  tmp="$(mktemp -d "$CACHE/unpack.XXXXXX")"
  top="llama_cpp_python-$VERSION/vendor/llama.cpp"
  tar -xzf "$SDIST" -C "$tmp" --strip-components=3 \
    "$top/convert_hf_to_gguf.py" "$top/conversion" "$top/gguf-py" "$top/LICENSE"
  rm -rf "$SRC"
  mv "$tmp" "$SRC"
fi
echo "llama-cpp-python $VERSION installed into $("$PYTHON" -c 'import sys; print(sys.prefix)'); converter in $SRC"
