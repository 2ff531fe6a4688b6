#!/usr/bin/env bash
# Packs vLLM's CUDA build and what it and the platform need into parts of at most 52 MB each,
# for a GPU host that has PyTorch but no package registry (run.sh unpacks them there):
#   bash deploy/gpu-check/bundle.sh OUT_DIR
# Left out, to fit: FlashAttention 2 (Hopper uses FlashAttention 3), the MoE and FlashMLA kernels
# (the tiny test model is a dense Llama), the Rust front end and the CUTLASS/DeepGEMM headers that
# only JIT builds read. FlashInfer is left out too; run.sh turns vLLM's FlashInfer sampler off.
set -euo pipefail
out=${1:?the folder for the parts}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$(dirname "$0")
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_34_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
  -d "$work/wheels" -r "$here/requirements.txt"
mkdir "$work/site"
for wheel in "$work"/wheels/*.whl; do
  case $wheel in
    */vllm-*) unzip -q -o "$wheel" -d "$work/site" -x 'vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so' 'vllm/vllm-rs' \
      'vllm/_moe_C_stable_libtorch.abi3.so' 'vllm/_flashmla_C.abi3.so' 'vllm/third_party/fmha_sm100/*' \
      'vllm/third_party/deep_gemm/*' ;;
    *) unzip -q -o "$wheel" -d "$work/site" ;;
  esac
done
mkdir -p "$out"
rm -f "$out"/bundle.part-*
(cd "$work/site" && tar cf - .) | xz -9 -T0 | split -b 52M -d - "$out/bundle.part-"
ls -l "$out"
