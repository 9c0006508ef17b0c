#!/usr/bin/env bash
# Every GPU check and GPU figure of the README, in one command, on a machine with an NVIDIA GPU,
# CuPy, PyTorch (with cuDNN) and, for the NCCL test, Open MPI and mpi4py:
#
#     bash benchmarks/gpu_all.sh                     # every step, logs in benchmarks/results/gpu-DATE/
#     bash benchmarks/gpu_all.sh OUT kernel_tests memcheck kernels   # some steps, logs in OUT
#
# Steps, in order (a step that fails is recorded and the next one runs):
#   compile        python -m minicnn.kernels: every kernel compiled into CuPy's on-disk cache, many at a
#                  time, so that the steps after it load them (on a fresh machine each step would
#                  otherwise wait on NVRTC for what it launches first, one source after another)
#   kernel_tests   python -m pytest -m kernel -k cuda: every CUDA kernel against the NumPy code, on the
#                  GPU (their simulated twins, -k sim, run in CI on any machine: not here)
#   gradcheck      python -m minicnn.gradcheck --device cuda: every kind of layer's backward, on the kernels,
#                  against central differences in float64
#   device_tests   no host synchronisation in a training step (plain and fused), the benchmark
#                  harness's GPU test, the NCCL all-reduce (one rank per GPU)
#   memcheck       compute-sanitizer --tool memcheck on the GPU kernel tests
#   racecheck      compute-sanitizer --tool racecheck (shared-memory races) on the same
#   kernels        benchmarks/kernels.py: every layer against cuDNN, strict float32
#   kernel_versions  benchmarks/kernels.py --versions --breakdown: every numbered version of the im2col,
#                  max-pool, LRN, LRN+max-pool and ReLU kernels (minicnn/kernel_versions.py) against
#                  cuDNN, and the time of each kernel within each layer
#   bias_versions  benchmarks/kernels.py --versions --family bias --breakdown: the conv rows in every version
#                  of the conv bias gradient (version 3 sums it as the backward moves dL/dy)
#   winograd       conv3-5 by Winograd's F(2x2, 3x3) (kernels/winograd.cu, --conv-algorithm winograd),
#                  every version of its transforms, against cuDNN, each kernel within each layer, and
#                  the training step with them
#   gemm_stacks    the conv rows whose products come in stacks (groups: conv2, conv4, conv5; Winograd's 16
#                  a group: conv3-5) and the training step with one cuBLAS call per product
#                  (--gemm cublas-looped), against the one strided-batched call of the default (the
#                  kernels, winograd and train_step steps' rows)
#   kernels_tf32   the same as kernels with TF32 allowed on both sides
#   kernels_tiled  minicnn's own GEMM, each of its versions, against cuBLAS and cuDNN
#   launch_overhead  benchmarks/launch_overhead.py --device cuda: the host's time per launch, minicnn's
#                  against CuPy's bare call and PyTorch's
#   train_step     benchmarks/train_step.py: the training step against PyTorch, fused (with the
#                  time of each layer, --layers) and not
#   train          examples/train_alexnet.py --device cuda, 2 epochs, the two-device split, and the
#                  hybrid (--distributed --hybrid, one rank under mpirun, the small AlexNet)
#   ncu_traffic    benchmarks/ncu_traffic.py: the simulator's traffic counts (requests, sectors, shared-
#                  memory passes) against Nsight Compute's, launch by launch (needs ncu and a runtime
#                  that lets it read the hardware counters); then again for versions the layers do not
#                  launch by default: col2im's version 3 (whose loop nvcc leaves rolled, unlike version
#                  2's) and the versions 7 of max-pool and of the fused LRN+max-pool (their new
#                  forwards, and the backwards of their versions 6); col2im's version 6 (version
#                  3's windows, all of a pixel's loads at once); LRN's version 4 with the fused
#                  layer's version 8 (several channels' loads a step); and Winograd's version 2 on
#                  conv3 and conv4 (--conv-algorithm winograd: their planes through shared memory)
# Results files (.md, .json) go to benchmarks/results/ as the benchmarks write them; each step's
# output goes to OUT/STEP.log and its exit status to OUT/status.txt; the machine is described in
# OUT/nvidia-smi.txt and OUT/environment.txt (python -m minicnn.environment --device cuda).
# GPU_ALL_STEP_TIMEOUT (seconds) stops a step that runs longer (exit 124), so one slow step cannot
# use up a time-limited machine; GPU_ALL_DEADLINE (seconds) bounds the whole run: each step gets at
# most the time left, and the steps left when it is up are recorded as "STEP not-run" and skipped,
# so a machine lent for a fixed time ends the script (and its results) before it is taken back. A
# step stopped by either that ignores the TERM signal is killed 15 s later. GPU_ALL_TESTS, a pytest
# -k expression (default: cuda), picks the tests that kernel_tests, memcheck and racecheck run: on a
# short lease, one kernel's, e.g. GPU_ALL_TESTS="cuda and winograd" (keep "cuda" in it, or the
# simulator's twins run too). GPU_ALL_VERSIONS, a list of version numbers (e.g. 6,7,8,9), narrows
# kernel_versions, bias_versions and kernels_tiled to those versions (benchmarks/kernels.py
# --versions 6,7,8,9): on a short lease, the ones not yet timed. GPU_ALL_SHARD, K/N, runs the K-th of
# N shares of those tests in kernel_tests, memcheck and racecheck (pytest --shard K/N, tests/conftest.py):
# compute-sanitizer on every kernel test takes longer than one short lease, and N leases take it whole.
set -u
if [ -n "${GPU_ALL_SHARD:-}" ] && ! [[ $GPU_ALL_SHARD =~ ^[1-9][0-9]*/[1-9][0-9]*$ ]]; then
  echo "GPU_ALL_SHARD=$GPU_ALL_SHARD: expected K/N, e.g. 2/3" >&2
  exit 2
fi
if [ -n "${GPU_ALL_VERSIONS:-}" ] && ! [[ $GPU_ALL_VERSIONS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]]; then
  echo "GPU_ALL_VERSIONS=$GPU_ALL_VERSIONS: expected version numbers separated by commas, e.g. 6,7,8,9" >&2
  exit 2
fi
versions=(--versions ${GPU_ALL_VERSIONS:-})   # --versions alone: every version
for variable in GPU_ALL_STEP_TIMEOUT GPU_ALL_DEADLINE; do
  if [ -n "${!variable:-}" ] && ! [[ ${!variable} =~ ^[1-9][0-9]*$ ]]; then
    echo "$variable=${!variable}: expected a whole number of seconds" >&2
    exit 2
  fi
done
deadline=
[ -n "${GPU_ALL_DEADLINE:-}" ] && deadline=$(( $(date +%s) + GPU_ALL_DEADLINE ))
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results/gpu-$(date +%F)}
shift || true
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(compile kernel_tests gradcheck device_tests memcheck racecheck kernels kernel_versions bias_versions
                                 winograd gemm_stacks kernels_tf32 kernels_tiled launch_overhead train_step train
                                 ncu_traffic)
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" > "$out/nvidia-smi.txt"
python -m minicnn.environment --device cuda > "$out/environment.txt" 2>&1   # the GPU, processor, BLAS, versions

run() {   # run NAME COMMAND...: log, time and exit status of one step
  local name=$1 start rc limit=${GPU_ALL_STEP_TIMEOUT:-}
  shift
  if [ -n "$deadline" ]; then   # no step runs past the deadline
    local left=$(( deadline - $(date +%s) ))
    if [ "$left" -le 0 ]; then
      echo "== $name: not run, GPU_ALL_DEADLINE (${GPU_ALL_DEADLINE} s) is up"
      echo "$name not-run" >> "$out/status.txt"
      return
    fi
    if [ -z "$limit" ] || [ "$left" -lt "$limit" ]; then limit=$left; fi
  fi
  echo "== $name: $*"
  start=$(date +%s)
  if [ -n "$limit" ]; then
    timeout --kill-after=15 "$limit" "$@" > "$out/$name.log" 2>&1   # KILL if it ignores TERM
  else
    "$@" > "$out/$name.log" 2>&1
  fi
  rc=$?
  echo "   exit $rc after $(( $(date +%s) - start )) s (log: $out/$name.log)"
  echo "$name $rc" >> "$out/status.txt"
}

# compute-sanitizer on the GPU kernel tests
tests=${GPU_ALL_TESTS:-cuda}
shard=(${GPU_ALL_SHARD:+--shard $GPU_ALL_SHARD})   # empty without it (expanded so that bash before 4.4 takes that)
sanitized_tests=(--error-exitcode 1 --print-limit 20 python -m pytest -q -m kernel -k "$tests" ${shard[@]+"${shard[@]}"}
                 -p no:cacheprovider)

for step in "${steps[@]}"; do
  case $step in
    compile) run compile python -m minicnn.kernels ;;
    kernel_tests) run kernel_tests python -m pytest -q -m kernel -k "$tests" ${shard[@]+"${shard[@]}"} -rs ;;
    gradcheck) run gradcheck python -m minicnn.gradcheck --device cuda ;;
    device_tests) run device_tests python -m pytest -q -rs tests/test_devices.py tests/test_benchmark_harness.py \
                    tests/test_distributed.py ;;
    memcheck) run memcheck compute-sanitizer --tool memcheck "${sanitized_tests[@]}" ;;
    racecheck) run racecheck compute-sanitizer --tool racecheck "${sanitized_tests[@]}" ;;
    kernels) run kernels python benchmarks/kernels.py ;;
    # the memory-bound layers first: they take seconds, the convolutions minutes, and a run cut
    # short keeps what it measured (the H200's of 2026-12-04, convolutions first, reached no LRN)
    kernel_versions) run kernel_versions python benchmarks/kernels.py "${versions[@]}" --breakdown \
                       --layers pool1,pool2,pool5,lrn1,lrn2,lrn1+pool1,lrn2+pool2,relu1,conv1,conv2,conv3,conv4,conv5,conv1+relu1,conv2+relu2 ;;
    bias_versions) run bias_versions python benchmarks/kernels.py "${versions[@]}" --family bias --breakdown \
                     --layers conv1,conv2,conv3,conv4,conv5 ;;
    winograd) run winograd python benchmarks/kernels.py --conv-algorithm winograd --versions --family winograd \
                --breakdown --layers conv3,conv4,conv5
              run winograd_train_step python benchmarks/train_step.py --device cuda --layers --conv-algorithm winograd ;;
    gemm_stacks) run gemm_stacks python benchmarks/kernels.py --gemm cublas-looped --breakdown --layers conv2,conv4,conv5
                 run gemm_stacks_winograd python benchmarks/kernels.py --gemm cublas-looped --conv-algorithm winograd \
                   --breakdown --layers conv3,conv4,conv5
                 run gemm_stacks_train_step python benchmarks/train_step.py --device cuda --gemm cublas-looped ;;
    kernels_tf32) run kernels_tf32 python benchmarks/kernels.py --tf32 ;;
    kernels_tiled) run kernels_tiled python benchmarks/kernels.py --gemm tiled "${versions[@]}" --layers conv1,conv2,conv3,conv4,conv5,fc6,fc7,fc8 ;;
    launch_overhead) run launch_overhead python benchmarks/launch_overhead.py --device cuda ;;
    train_step) run train_step python benchmarks/train_step.py --device cuda --layers
                run train_step_unfused python benchmarks/train_step.py --device cuda --no-fuse ;;
    train) run train python examples/train_alexnet.py --device cuda --epochs 2 --out runs/gpu --no-progress
           run train_split python examples/train_alexnet.py --device cuda --split two-device --epochs 1 \
             --out runs/gpu-split --no-progress
           OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 run train_hybrid mpirun -np 1 \
             python examples/train_alexnet.py --distributed --hybrid --device cuda --model alexnet_small \
             --epochs 1 --out runs/gpu-hybrid --no-progress ;;
    ncu_traffic) run ncu_traffic python benchmarks/ncu_traffic.py
                 run ncu_traffic_versions python benchmarks/ncu_traffic.py --layers conv2,pool1,lrn1+pool1 \
                   --kernel-version im2col=3 --kernel-version maxpool=7 --kernel-version lrn_maxpool=7
                 run ncu_traffic_col2im6 python benchmarks/ncu_traffic.py --layers conv2 --kernel-version im2col=6
                 run ncu_traffic_lrn4 python benchmarks/ncu_traffic.py --layers lrn1,lrn1+pool1 --kernel-version lrn=4 \
                   --kernel-version lrn_maxpool=8
                 run ncu_traffic_winograd2 python benchmarks/ncu_traffic.py --layers conv3,conv4 \
                   --conv-algorithm winograd --kernel-version winograd=2 ;;
    *) echo "unknown step '$step'; steps: compile kernel_tests gradcheck device_tests memcheck racecheck kernels kernel_versions" \
            "bias_versions winograd gemm_stacks kernels_tf32 kernels_tiled launch_overhead train_step train" \
            "ncu_traffic" >&2
       exit 2 ;;
  esac
done
echo "status ($out/status.txt):"
cat "$out/status.txt"
