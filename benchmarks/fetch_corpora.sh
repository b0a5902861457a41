#!/usr/bin/env bash
# Download the code bases that docs/benchmarks.md measures, from package registries only
# (PyPI source distributions, npm tarballs, Debian -dev packages), at pinned versions, and
# unpack each into its own folder under DEST (default: ~/.cache/codeseek-corpora).
#
#   benchmarks/fetch_corpora.sh [DEST] [NAME...]
#
# NAMEs fetch only those corpora (default: all). Nothing here is written into the
# repository: the corpora are other people's code. Where a package carries build copies of
# its sources (rxjs's dist/), a codeseek.toml excludes them, as a checkout would not have
# them; declarations shipped next to the code (.pyi stubs, .d.ts typings) are kept.
set -euo pipefail

DEST="${1:-${CODESEEK_CORPORA:-${XDG_CACHE_HOME:-$HOME/.cache}/codeseek-corpora}}"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"
shift $(( $# < 1 ? $# : 1 ))
WANTED=" $* "
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

debian_download() {  # debian_download DIR PACKAGE=VERSION: the pinned .deb, else the mirror's own
  # A Debian mirror keeps one version of a package per suite, and security updates replace
  # it (openjdk-17-source moves every quarter): when the pinned version is gone, the
  # version the mirror has is fetched, and said, rather than no corpus at all.
  local dir="$1" package="$2"
  if ! (cd "$dir" && apt-get download -qq "$package" >/dev/null 2>&1); then
    echo "   $package is not on this mirror; taking $(apt-cache policy "${package%%=*}" | awk '/Candidate:/ {print $2}') instead" >&2
    (cd "$dir" && apt-get download -qq "${package%%=*}" >/dev/null)
  fi
}

debian_dev() {  # debian_dev NAME PACKAGE=VERSION SUBDIR  (the source tree inside the .deb)
  local name="$1" package="$2" subdir="$3"
  echo "== $name: Debian $package" >&2
  mkdir -p "$WORK/$name"
  debian_download "$WORK/$name" "$package"
  dpkg-deb -x "$WORK/$name"/*.deb "$WORK/$name/root"
  fresh "$name"
  cp -a "$WORK/$name/root/$subdir/." "$DEST/$name/"
}

debian_zip() {  # debian_zip NAME PACKAGE=VERSION ZIP PATTERN...  (files of a zip inside the .deb)
  local name="$1" package="$2" zip="$3"
  shift 3
  echo "== $name: Debian $package ($zip: $*)" >&2
  mkdir -p "$WORK/$name"
  debian_download "$WORK/$name" "$package"
  dpkg-deb -x "$WORK/$name"/*.deb "$WORK/$name/root"
  fresh "$name"
  unzip -q "$WORK/$name/root/$zip" "$@" -d "$DEST/$name"
}

library_only() {  # library_only NAME [TOML_LINE...]: index the library, not its tests, examples, docs
  # The code a query should find, without the test suites that would double most corpora
  # (and their embedding time on 2 cores); a test is never a target anyway.
  local name="$1"
  shift
  {
    echo "[index]"
    echo 'exclude = ["tests/", "test/", "testing/", "testdata/", "benches/", "examples/", "example/", "docs/", "*_test.go"]'
    for line in "$@"; do echo "$line"; done
  } > "$DEST/$name/codeseek.toml"
}

want() {  # want NAME: whether NAME was asked for (all when none was named)
  [[ "$WANTED" == "  " || "$WANTED" == *" $1 "* ]]
}

# The first six (docs/benchmarks.md: the first fusion weight was tuned on them).
want requests && pypi_sdist requests "requests==2.32.3"
want click && pypi_sdist click "click==8.1.7"
want express && npm_package express "express@4.21.2"
want lodash-es && npm_package lodash-es "lodash-es@4.17.21"
want cobra && debian_dev cobra "golang-github-spf13-cobra-dev=1.6.1-1" usr/share/gocode/src/github.com/spf13/cobra
want serde_json && debian_dev serde_json "librust-serde-json-dev=1.0.87-1" usr/share/cargo/registry/serde_json-1.0.87

# Added for leave-one-corpus-out tuning (issue 12): nobody tuned anything on these.
# more-itertools ships .pyi stubs next to its code, commander .d.ts typings beside its
# JavaScript: declarations that compete with the implementations.
want more-itertools && pypi_sdist more-itertools "more-itertools==10.5.0"
want commander && npm_package commander "commander@12.1.0"
if want rxjs; then
  npm_package rxjs "rxjs@7.8.1"
  # The TypeScript sources are in src/ (dist/ holds four compiled copies of them); the
  # operators and observable creators hold most documented functions, and the rest would
  # double the corpus for 2 shared cores.
  library_only rxjs 'include = ["src/internal/operators/", "src/internal/observable/"]'
fi
want gin && debian_dev gin "golang-github-gin-gonic-gin-dev=1.8.1-1" usr/share/gocode/src/github.com/gin-gonic/gin
want itertools && debian_dev itertools "librust-itertools-dev=0.10.3-1" usr/share/cargo/registry/itertools-0.10.3
# Java: Debian ships no Java library sources in its binary packages except the JDK's own
# src.zip; the java.time package (its top-level classes: LocalDate, Duration, Instant...)
# is the corpus.
want java-time && debian_zip java-time "openjdk-17-source=17.0.21.1+2-1~deb12u1" \
  usr/lib/jvm/openjdk-17/lib/src.zip 'java.base/java/time/*.java' -x 'java.base/java/time/*/*'

for name in requests click express lodash-es cobra serde_json more-itertools commander gin itertools java-time; do
  if want "$name"; then library_only "$name"; fi
done

echo "$DEST"
