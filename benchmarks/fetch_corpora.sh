#!/usr/bin/env bash
# Download the code bases that docs/benchmarks.md measures, from package registries only
# (PyPI source distributions, npm tarballs, Debian -dev packages), at pinned versions, and
# unpack each into its own folder under DEST (default: ~/.cache/codeseek-corpora).
#
#   benchmarks/fetch_corpora.sh [DEST]
#
# Nothing here is written into the repository: the corpora are other people's code.
set -euo pipefail

DEST="${1:-${CODESEEK_CORPORA:-${XDG_CACHE_HOME:-$HOME/.cache}/codeseek-corpora}}"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fresh() {  # fresh NAME -> an empty $DEST/NAME
  rm -rf "${DEST:?}/$1"
  mkdir -p "$DEST/$1"
}

pypi_sdist() {  # pypi_sdist NAME REQUIREMENT
  local name="$1" requirement="$2"
  echo "== $name: PyPI sdist $requirement" >&2
  mkdir -p "$WORK/$name"
  pip download --quiet --no-deps --no-binary :all: --dest "$WORK/$name" "$requirement"
  fresh "$name"
  tar -xzf "$WORK/$name"/*.tar.gz -C "$DEST/$name" --strip-components=1
}

npm_package() {  # npm_package NAME SPEC
  local name="$1" spec="$2"
  echo "== $name: npm $spec" >&2
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && npm pack --silent "$spec" >/dev/null)
  fresh "$name"
  tar -xzf "$WORK/$name"/*.tgz -C "$DEST/$name" --strip-components=1
}

debian_dev() {  # debian_dev NAME PACKAGE=VERSION SUBDIR  (the source tree inside the .deb)
  local name="$1" package="$2" subdir="$3"
  echo "== $name: Debian $package" >&2
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && apt-get download -qq "$package" >/dev/null)
  dpkg-deb -x "$WORK/$name"/*.deb "$WORK/$name/root"
  fresh "$name"
  cp -a "$WORK/$name/root/$subdir/." "$DEST/$name/"
}

pypi_sdist requests "requests==2.32.3"
pypi_sdist click "click==8.1.7"
npm_package express "express@4.21.2"
npm_package lodash-es "lodash-es@4.17.21"
debian_dev cobra "golang-github-spf13-cobra-dev=1.6.1-1" usr/share/gocode/src/github.com/spf13/cobra
debian_dev serde_json "librust-serde-json-dev=1.0.87-1" usr/share/cargo/registry/serde_json-1.0.87

echo "$DEST"
