#!/usr/bin/env bash
# Installs the Fedify interop peer (Fedify + a Node 22 binary, both from the npm
# registry) into <repo>/.cache/fedify/, which git ignores.
#
# Idempotent: npm runs only when package.json / package-lock.json changed since
# the last successful install (a hash is kept in .cache/fedify/.install-stamp).
# peer.mjs is copied on every run, so edits to it are picked up.
#
# stdout: exactly one line, the absolute path of the Node 22 binary.
# stderr: progress and npm output.  Exit status is non-zero on any failure.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$src/../../.." && pwd)"
dest="${SHOAL_FEDIFY_CACHE:-$repo/.cache/fedify}"
node_bin="$dest/node_modules/node/bin/node"
stamp="$dest/.install-stamp"

log() { printf 'fedify-install: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$dest"
for f in package.json package-lock.json peer.mjs; do
    [[ -f "$src/$f" ]] || die "missing $src/$f"
    cmp -s "$src/$f" "$dest/$f" || cp "$src/$f" "$dest/$f"
done

want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"

node_ok() {
    [[ -x "$node_bin" ]] && [[ "$("$node_bin" --version 2>/dev/null)" == v22.* ]]
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && node_ok \
    && [[ -d "$dest/node_modules/@fedify/fedify" ]]; then
    echo "$node_bin"
    exit 0
fi

npm_ci() {
    # --engine-strict=false: npm itself may run on an older Node than the
    # packages declare; they run on the Node 22 binary installed here.
    (cd "$dest" && npm ci --no-audit --no-fund --engine-strict=false \
        --loglevel=error 1>&2)
}

command -v npm >/dev/null 2>&1 || die "npm was not found on PATH. The Fedify interop \
peer needs npm (Node.js with npm, any recent version) to install @fedify/fedify and node@22 \
from the npm registry. Install Node.js/npm and re-run."

log "installing into $dest (npm $(npm --version 2>/dev/null || echo '?'))"
start=$SECONDS
rm -f "$stamp"
if ! npm_ci; then
    log "npm ci failed; retrying once from a clean node_modules"
    sleep 2
    rm -rf "$dest/node_modules"
    npm_ci || die "npm ci failed twice in $dest (see npm output above)"
fi
node_ok || die "node 22 binary missing or wrong version at $node_bin"
[[ -d "$dest/node_modules/@fedify/fedify" ]] || die "@fedify/fedify not installed"
echo "$want" >"$stamp"
log "installed in $((SECONDS - start)) s; node $("$node_bin" --version)"
echo "$node_bin"
