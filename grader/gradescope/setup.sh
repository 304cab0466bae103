#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image; the bundle is unzipped in
# $AUTOGRADER_ROOT/source (default /autograder/source). It installs exactly what grading needs into one
# virtual environment, $AUTOGRADER_ROOT/venv: the CPU build of torch at the project's pin, then requirements.txt
# (the project's dependencies and its "grade" extra, written by grader/bundle.py from pyproject.toml) under the
# project's constraints.txt. Nothing else: no test tools, no transformers.
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
PROJECT="$SOURCE/transformer-lm-verify"
# PyPI's Linux torch is the CUDA build: gigabytes a CPU-only grading container never uses. A course with a
# mirror of the CPU wheels sets TORCH_INDEX_URL.
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then  # Gradescope's Ubuntu 22.04 image has Python 3.10; the project needs 3.11
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3.11 python3.11-venv
    python=python3.11
fi
if ! "$python" -m venv "$ROOT/venv"; then  # Debian ships venv's pip bootstrap as a package of its own
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$(basename "$python")-venv"
    "$python" -m venv "$ROOT/venv"
fi

torch_pin="$(grep -E '^torch==' "$PROJECT/constraints.txt")"
"$ROOT/venv/bin/pip" install -q --no-cache-dir --index-url "$TORCH_INDEX_URL" "$torch_pin"
"$ROOT/venv/bin/pip" install -q --no-cache-dir -c "$PROJECT/constraints.txt" -r "$SOURCE/requirements.txt"
# The project runs from its source tree (the grader runs the suites of its checkout): a path entry, not a build.
site_packages="$("$ROOT/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
echo "$PROJECT" >"$site_packages/transformer-lm-verify.pth"
