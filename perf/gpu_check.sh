#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (no network needed): the CUDA tests on the
# real device (streams, CUDA-graph capture, bias_relu and PReLU on device
# arrays included), then the GPU benchmarks (relu and relu_backward by size,
# every activation at 2^26 float32), the host-path figures and the GPU
# training example.  Runs from the source tree; its time limits add up to
# 550 s (under ten minutes, whatever hangs).
#   bash perf/gpu_check.sh [OUTDIR]
# GPU_CHECK_VARIANTS=1 adds the kernel-form sweep (up to 200 s more).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results}
mkdir -p "$out"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
unset NUMBA_ENABLE_CUDASIM
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv || true
python3 -c "import numba, numba_cuda; print('numba', numba.__version__, 'numba-cuda', numba_cuda.__version__)" || true
timeout 180 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/gpu_tests.log"
tests=${PIPESTATUS[0]}
if [ "${GPU_CHECK_VARIANTS:-0}" = 1 ]; then
    timeout 200 python3 perf/gpu_kernel_variants.py --json "$out/gpu_variants.json" 2>&1 | tee "$out/gpu_variants.log"
fi
{ timeout 45 python3 perf/gpu_call_overhead.py; timeout 45 python3 perf/cuda_host_path.py; } 2>&1 |
    tee "$out/gpu_call_overhead.log"
timeout 100 python3 perf/bench_gpu.py --json "$out/gpu_bench.json" 2>&1 | tee "$out/gpu_bench.log"
bench=${PIPESTATUS[0]}
timeout 80 python3 perf/bench_gpu.py --activations --json "$out/gpu_activations.json" 2>&1 |
    tee "$out/gpu_activations.log"
# The MNIST-1D MLP on PyTorch CUDA tensors, fastrelu against torch.nn.ReLU.
if python3 -c "import mnist1d" 2>/dev/null; then
    timeout 100 python3 examples/torch_mlp.py --device cuda --steps 3000 2>&1 |
        tee "$out/gpu_torch_mlp.log"
else
    echo "mnist1d is not installed: the GPU training example is left out"
fi
echo "tests exit $tests, bench exit $bench"
exit $(( tests || bench ))
