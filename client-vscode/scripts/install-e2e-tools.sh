#!/usr/bin/env bash
# Installs what the VS Code end-to-end suite needs, idempotently and without GitHub:
#   - Debian: chromium (driven headless by playwright-core), the native build deps of
#     code-server's modules, and ripgrep (whose binary stands in for the GitHub download);
#   - npm: code-server@4.100.3 into its own prefix, so it never touches the project's
#     node_modules or a global prefix other tools rely on.
# Prints the code-server path on its last line. Re-running with everything present is a no-op.
#
# Environment:
#   CODESEEK_E2E_TOOLS  where code-server is installed (default: ~/.cache/codeseek-e2e)
#   CODE_SERVER_VERSION default 4.100.3 (the last line that runs on Node 20)
set -euo pipefail

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.100.3}"
TOOLS="${CODESEEK_E2E_TOOLS:-$HOME/.cache/codeseek-e2e}"
CODE_SERVER="$TOOLS/bin/code-server"
# The exact ripgrep version and asset that code-server's bundled @vscode/ripgrep asks for.
RIPGREP_PACKAGE_VERSION="1.15.11"
RIPGREP_ASSET="ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"

log() { printf 'install-e2e-tools: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_PACKAGES=(chromium build-essential pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep)

missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing_apt+=("$pkg")
  fi
done
if [ "${#missing_apt[@]}" -gt 0 ]; then
  log "apt: installing ${missing_apt[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 install -y -qq --no-install-recommends "${missing_apt[@]}" >&2
else
  log "apt: all present"
fi

if [ -x "$CODE_SERVER" ] && [ "$("$CODE_SERVER" --version 2>/dev/null | head -n1 | cut -d' ' -f1)" = "$CODE_SERVER_VERSION" ]; then
  log "code-server $CODE_SERVER_VERSION: present at $CODE_SERVER"
  echo "$CODE_SERVER"
  exit 0
fi

# @vscode/ripgrep's postinstall downloads from GitHub unless this cache holds the asset;
# Debian's rg in a tarball of the expected name serves the same purpose.
tmp_root="${TMPDIR:-/tmp}"
ripgrep_cache="$tmp_root/vscode-ripgrep-cache-$RIPGREP_PACKAGE_VERSION"
if [ ! -s "$ripgrep_cache/$RIPGREP_ASSET" ]; then
  log "ripgrep: seeding $ripgrep_cache from $(command -v rg)"
  mkdir -p "$ripgrep_cache"
  staging="$(mktemp -d)"
  cp "$(command -v rg)" "$staging/rg"
  tar -czf "$ripgrep_cache/$RIPGREP_ASSET" -C "$staging" rg
  rm -rf "$staging"
fi

log "npm: installing code-server@$CODE_SERVER_VERSION into $TOOLS"
mkdir -p "$TOOLS"
# Its postinstall runs a nested `npm install` in lib/vscode; under a global install that
# nested npm inherits npm_config_global/prefix, ignores VS Code's shrinkwrap and fails
# ("Cannot cd into ..."). So install without scripts, then run postinstall.sh ourselves
# in a clean environment, as a plain (non-global) npm install.
npm install --global --prefix "$TOOLS" --ignore-scripts --no-audit --no-fund --loglevel=error \
  "code-server@$CODE_SERVER_VERSION" >&2
package_dir="$TOOLS/lib/node_modules/code-server"
# The one native module of code-server itself; its install script would fetch a prebuilt
# binary from GitHub, so build it from source (node-gyp uses the local Node headers).
if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
(cd "$package_dir" && npm_config_build_from_source=true npm rebuild argon2 --loglevel=error >&2)
log "code-server: running its postinstall.sh (VS Code's own modules; a few minutes)"
(
  cd "$package_dir"
  env -u npm_config_global -u npm_config_prefix \
    npm_config_user_agent="npm/$(npm --version) node/$(node --version) linux x64" \
    npm_config_unsafe_perm=true npm_config_yes=true npm_config_audit=false npm_config_fund=false \
    npm_config_loglevel=error \
    sh ./postinstall.sh >&2
)

"$CODE_SERVER" --version >&2
echo "$CODE_SERVER"
