#!/bin/sh
# Install the backend's Python runtime into a versioned directory the server can read:
#   RUNTIME_DIR/site   pinned third-party packages + churnml's own Python code
# The server finds it through PYTHONPATH in its environment (never a SQL setting).
# Third-party packages are reinstalled only when the pins change; churnml's code is
# refreshed on every run. Packages go into site.new and are swapped in only when
# complete, so a failed install never leaves a half-written runtime.
# usage: install-runtime.sh PYTHON RUNTIME_DIR VERSION   (run from the source tree)
set -eu
python=$1
dir=$2
version=$3
site="$dir/site"
stamp="$dir/.pins-sha256"
pins=$(cat requirements/constraints.txt requirements/runtime.in | sha256sum | cut -d' ' -f1)

mkdir -p "$dir"
if [ ! -d "$site" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$pins" ]; then
    echo "==> installing the pinned runtime packages into $site (first time: a few minutes)"
    rm -rf "$site.new"
    log="$dir/pip.log"
    status=0
    "$python" -m pip install --disable-pip-version-check --progress-bar on --no-warn-script-location \
        --target "$site.new" -c requirements/constraints.txt -r requirements/runtime.in >"$log" 2>&1 || status=$?
    # pip's full output stays in the log; show what matters (this machine's pip
    # configuration adds a warning per local package directory that lacks a package)
    grep -v -e '^Collecting' -e '^  Using cached' -e '^Requirement already' -e "^WARNING: Location 'file:" "$log" || true
    if [ "$status" -ne 0 ]; then echo "install-runtime: pip failed ($status); see $log" >&2; exit "$status"; fi
    rm -rf "$site.old"
    if [ -d "$site" ]; then mv "$site" "$site.old"; fi
    mv "$site.new" "$site"
    rm -rf "$site.old"
    echo "$pins" > "$stamp"
fi

echo "==> copying churnml $version Python code into $site"
for src in python_udfs/churnml loaders/churnml_loaders; do
    name=$(basename "$src")
    rm -rf "$site/$name.new"
    cp -r "$src" "$site/$name.new"
    find "$site/$name.new" -name __pycache__ -prune -exec rm -rf {} +
    if [ "$name" = churnml ]; then
        printf '"""Written by make install from extension/churnml.control."""\n\nVERSION = "%s"\n' \
            "$version" > "$site/$name.new/_version.py"
    fi
    rm -rf "$site/$name.old"
    if [ -d "$site/$name" ]; then mv "$site/$name" "$site/$name.old"; fi
    mv "$site/$name.new" "$site/$name"
    rm -rf "$site/$name.old"
    # The server's OS user cannot write here, so compile now for fast imports.
    "$python" -m compileall -q "$site/$name" >/dev/null
done
chmod -R a+rX "$dir"
