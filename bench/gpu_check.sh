#!/usr/bin/env bash
# GPU check of the performance benchmarks (issue 6): training throughput on CUDA (nnLandmarkTrainer vs nnU-Net's
# stock nnUNetTrainer, nnU-Net's planned network, 128^3 patches), heatmap targets on CUDA, and decoding (CPU work,
# as in nnU-Net's export) on the GPU machine's CPU. About 3-4 minutes once the wheels are installed.
#
# The GPU machine has python3 with torch (and numpy, scipy, scikit-image, pandas, ...) but no nnU-Net and no
# network. So, in two steps:
#
#   1. Here, on a machine with PyPI access and this repository's .venv:
#        bash bench/gpu_check.sh --fetch-wheels
#      writes bench/.work/gpu/ (about 43 MB, git-ignored): wheels of nnunetv2 2.8.1 and the dependencies the GPU
#      image lacks, for CPython 3.12 on manylinux x86_64 (--python-version X.Y for another), with SimpleITK
#      repacked as simpleitk.tar.xz (its wheel alone is 53 MB, over what the device tool carries).
#   2. On the GPU machine, from the repository root:
#        bash bench/gpu_check.sh
#      installs bench/.work/gpu/*.whl offline into bench/.work/gpu/site (--no-deps), puts src/ on PYTHONPATH,
#      prepares the benchmark dataset and runs the benchmarks. Results: bench/results/*_cuda.json and
#      decoding_gpu_host.json, also copied to $OUT when that is set.
#      With the device tool:  run(command="bash bench/gpu_check.sh", carry=["bench/.work/gpu"], timeout_s=420)
#      (the travelling working tree must stay under 64 MiB: results-test/ with its 16 MB checkpoints must not be
#      tracked).
#
# Options: --fetch-wheels [--python-version 3.12]; --skip-install (nnU-Net already importable).
# Environment (for a smoke test elsewhere): PYTHON (default python3), GPU_CHECK_DEVICE (cuda),
# GPU_CHECK_PATCH ("128 128 128"), GPU_CHECK_REPS (8).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GPU_DIR="$REPO/bench/.work/gpu"
SITE="$GPU_DIR/site"
PY_VERSION="3.12"
MODE="run"
INSTALL=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fetch-wheels) MODE="fetch" ;;
    --python-version) PY_VERSION="$2"; shift ;;
    --skip-install) INSTALL=0 ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift
done

# pure-Python packages: built here from PyPI into py3-none-any wheels
PURE=(nnunetv2==2.8.1 acvl-utils==0.2.6 dynamic-network-architectures==0.4.4 batchgenerators==0.25.5
      batchgeneratorsv2==0.3.6 nibabel==5.4.2)
# compiled packages: binary wheels for the GPU machine's Python
BINARY=(blosc2==4.14.1 ndindex==1.10.1 numexpr==2.14.2 connected-components-3d==4.1.1)
SIMPLEITK="SimpleITK==2.5.7"

if [[ "$MODE" == "fetch" ]]; then
  PIP=("$REPO/.venv/bin/python" -m pip)
  rm -rf "$GPU_DIR" && mkdir -p "$GPU_DIR/sitk"
  "${PIP[@]}" wheel -q --no-deps -w "$GPU_DIR" "${PURE[@]}"
  PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
  "${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" "${PLATFORMS[@]}" \
    -d "$GPU_DIR" "${BINARY[@]}"
  "${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" "${PLATFORMS[@]}" \
    -d "$GPU_DIR/sitk" "$SIMPLEITK"
  (cd "$GPU_DIR/sitk" && mkdir unpacked && cd unpacked && python3 -m zipfile -e ../*.whl . \
     && tar -cJf "$GPU_DIR/simpleitk.tar.xz" .)
  rm -rf "$GPU_DIR/sitk"
  du -sh "$GPU_DIR"
  ls "$GPU_DIR"
  exit 0
fi

cd "$REPO"
PYTHON="${PYTHON:-python3}"
if [[ "$INSTALL" == 1 ]]; then
  if [[ ! -d "$GPU_DIR" ]]; then
    echo "no $GPU_DIR: run 'bash bench/gpu_check.sh --fetch-wheels' on a machine with PyPI access first" >&2
    exit 1
  fi
  rm -rf "$SITE" && mkdir -p "$SITE"
  "$PYTHON" -m pip install -q --no-index --no-deps --target "$SITE" "$GPU_DIR"/*.whl
  tar -xJf "$GPU_DIR/simpleitk.tar.xz" -C "$SITE"
  export PYTHONPATH="$REPO/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
fi
export nnUNet_compile=false nnUNet_def_n_proc=2

"$PYTHON" - <<'PY'
import torch
import nnunetv2, SimpleITK, blosc2  # noqa: F401 - the check is that they import
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer  # noqa: F401
from nnlandmark.training.trainer import nnLandmarkTrainer  # noqa: F401
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
PY

FAILED=()
step() {  # a failed or timed-out benchmark does not stop the others
  local limit="$1"; shift
  timeout "$limit" "$PYTHON" "$@" || FAILED+=("$1 (exit $?)")
}
START=$SECONDS
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
step 90 bench/prepare_dataset.py
# shellcheck disable=SC2086 - the patch is three words
step 150 bench/training_throughput.py --device "$DEVICE" --plan nnunet --patch-size ${GPU_CHECK_PATCH:-128 128 128} \
  --reps "${GPU_CHECK_REPS:-8}" --steps-per-sample 5 --name training_throughput_cuda
step 60 bench/target_rendering.py --device "$DEVICE" --reps 5 --name target_rendering_cuda
step 150 bench/decoding.py --reps 1 --threads 2 --name decoding_gpu_host
step 150 bench/gpu_e2e.py  # one fold trained and predicted on cuda, through our trainer and predictor
echo "gpu_check: benchmarks took $((SECONDS - START)) s"
if [[ -n "${OUT:-}" ]]; then
  for name in training_throughput_cuda target_rendering_cuda decoding_gpu_host gpu_e2e; do
    if [[ -f "bench/results/$name.json" ]]; then cp "bench/results/$name.json" "$OUT"/; fi
  done
fi
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "gpu_check: failed: ${FAILED[*]}" >&2
  exit 1
fi
