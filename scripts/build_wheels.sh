#!/usr/bin/env bash
# Build what a release ships from this machine and prove a user can install it:
#   1. a manylinux2014 x86_64 abi3 wheel: `maturin build --release --zig` (Zig from PyPI's `ziglang`
#      links against glibc 2.17, so the wheel installs on CentOS 7 / Debian 8 and every newer system);
#   2. an sdist;
#   3. `auditwheel show` must report manylinux2014 (= manylinux_2_17) and `twine check --strict` must pass;
#   4. the wheel is installed into a fresh virtual environment and the CLI and the Python API are run
#      there, outside the source tree.
# Other platforms (aarch64, musllinux, macOS, Windows) are built by .github/workflows/release.yml.
#
# Usage: scripts/build_wheels.sh [OUT_DIR]   (default dist/; needs python3 and cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-dist}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "build tools (maturin, ziglang, auditwheel, twine) in $WORK/tools"
python3 -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q -U pip
"$WORK/tools/bin/pip" install -q "maturin>=1.7,<2" ziglang auditwheel twine
export PATH="$WORK/tools/bin:$PATH"   # maturin finds zig through `python3 -m ziglang`

rm -rf "$OUT" && mkdir -p "$OUT"
step "wheel: maturin build --release --zig (manylinux2014, x86_64, abi3)"
maturin build --release --zig --compatibility manylinux2014 --target x86_64-unknown-linux-gnu --out "$OUT"
step "sdist"
maturin sdist --out "$OUT"

WHEEL=$(ls "$OUT"/*.whl)
SDIST=$(ls "$OUT"/*.tar.gz)
case "$(basename "$WHEEL")" in
  *-cp310-abi3-manylinux*2014_x86_64*.whl|*-cp310-abi3-manylinux_2_17_x86_64*.whl) ;;
  *) echo "unexpected wheel tag: $(basename "$WHEEL")" >&2; exit 1 ;;
esac

step "auditwheel show"
auditwheel show "$WHEEL" | tee "$WORK/auditwheel.txt"
grep -Eq 'manylinux_2_17_x86_64|manylinux2014_x86_64' "$WORK/auditwheel.txt" \
  || { echo "auditwheel: the wheel is not manylinux2014" >&2; exit 1; }

step "twine check --strict"
twine check --strict "$WHEEL" "$SDIST"

step "smoke test in a fresh virtual environment"
python3 -m venv "$WORK/smoke"
"$WORK/smoke/bin/pip" install -q "$WHEEL"
mkdir "$WORK/run" && cp -r "$ROOT/examples" "$ROOT/samples" "$WORK/run/"
cd "$WORK/run"   # outside the source tree: only the installed wheel can be imported
"$WORK/smoke/bin/meshauthz" --version
"$WORK/smoke/bin/meshauthz" check traffic -f examples/ --from web-1 --to backend-1:8080
"$WORK/smoke/bin/meshauthz" can-i CREATE -f samples/tp.yaml --user alice --group team-backend \
  --roles examples/universal/rbac.yaml
"$WORK/smoke/bin/meshauthz" test samples/tests/
set +e
"$WORK/smoke/bin/meshauthz" check traffic -f examples/ --from batch-1 --to payments-1:9090 -q
[ $? -eq 1 ] || { echo "a denial must exit 1" >&2; exit 1; }
set -e
"$WORK/smoke/bin/python" - <<'PY'
import meshauthz, meshauthz._core as core
engine = meshauthz.TrafficEngine.from_paths(["examples/"])
d = engine.check(source="web-1", destination=meshauthz.Inbound("backend-1", 8080))
assert (d.allowed, d.reason, d.policy) == (True, "allowed", "web-to-backend"), d
assert "site-packages" in core.__file__, core.__file__
print("python API ok:", meshauthz.__version__, core.__file__.rsplit("/", 1)[-1])
PY
step "ok"
ls -l "$OUT"
