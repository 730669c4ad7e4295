#!/usr/bin/env bash
# Builds Ultralytics' test environment (.venv-ultralytics, or $SITEWATCH_ULTRALYTICS_ENV) from
# tests/ultralytics-requirements.txt, once: it is kept until that file changes. `make test`
# runs this. It never fails the caller: where the environment cannot be built (no disk, no
# wheel for this machine, a package index out of reach) it writes why to .venv-ultralytics.failed
# and exits 0, and tests/test_yolo_obb_ultralytics.py skips with that reason.
set -uo pipefail
cd "$(dirname "$0")/.."
ENV=${SITEWATCH_ULTRALYTICS_ENV:-.venv-ultralytics}
REQ=tests/ultralytics-requirements.txt
PY=${PYTHON:-python3}
FAILED="$ENV.failed"
LOG="$ENV.log"
NEED_GIB=8  # the environment takes about 6.3 GiB on x86_64; the rest to spare

fail() {
    echo "$1" >"$FAILED"
    rm -rf "$ENV"
    echo "ultralytics-env: $1; tests/test_yolo_obb_ultralytics.py will skip" >&2
    exit 0
}

if [ -f "$ENV/.installed" ] && [ "$ENV/.installed" -nt "$REQ" ]; then
    exit 0
fi
rm -rf "$ENV" "$FAILED"
start=$(date +%s)
mkdir -p "$(dirname "$ENV")"
avail_kib=$(df -Pk "$(dirname "$ENV")" | awk 'NR == 2 {print $4}')
if [ "${avail_kib:-0}" -lt $((NEED_GIB * 1024 * 1024)) ]; then
    fail "only $((${avail_kib:-0} / 1024 / 1024)) GiB free for $ENV, which needs $NEED_GIB"
fi
echo "ultralytics-env: building $ENV from $REQ (once; about 6 GiB)" >&2
"$PY" -m venv "$ENV" >"$LOG" 2>&1 || fail "'$PY -m venv' failed (see $LOG)"
if ! "$ENV/bin/pip" install --quiet -r "$REQ" >>"$LOG" 2>&1; then
    fail "pip install -r $REQ failed: $(grep -E '^ERROR' "$LOG" | tail -1 | cut -c1-300) (see $LOG)"
fi
# Offline, no installs, settings inside the environment (Ultralytics looks up DNS at import otherwise).
if ! YOLO_OFFLINE=true YOLO_AUTOINSTALL=false YOLO_CONFIG_DIR="$ENV/yolo-config" "$ENV/bin/python" -c "import onnx, onnxruntime, onnxslim, torchvision.ops, ultralytics" >>"$LOG" 2>&1; then
    fail "the packages do not import: $(tail -1 "$LOG" | cut -c1-300) (see $LOG)"
fi
touch "$ENV/.installed"
echo "ultralytics-env: built in $(($(date +%s) - start)) s" >&2
