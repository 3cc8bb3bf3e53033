#!/usr/bin/env bash
# make fuzz: every cargo-fuzz target (fuzz/fuzz_targets/, one per parser of outside data) for
# PB_FUZZ_SECONDS each (default 60), on a nightly toolchain with cargo-fuzz, where there is one.
# The committed corpus (fuzz/corpus/<target>/) seeds each run and is never written: what a run
# finds worth keeping goes to target/fuzz-corpus/<target>/ (copy the good ones into the corpus,
# where the stable test tests/fuzz_corpus.rs replays them); a crash goes to
# fuzz/artifacts/<target>/ and fails the run. `scripts/fuzz.sh caller_name` runs one target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${PB_FUZZ_SECONDS:-60}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain (rustup toolchain install nightly); the corpus still runs in make test" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing (cargo install cargo-fuzz --locked)" >&2
  exit 1
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz/fuzz_targets && ls *.rs | sed 's/\.rs$//')
cargo +nightly fuzz build --fuzz-dir fuzz "${targets[@]:0:1}" >/dev/null
for target in "${targets[@]}"; do
  work=target/fuzz-corpus/$target
  mkdir -p "$work" "fuzz/artifacts/$target"
  echo "fuzz: $target for ${seconds} s"
  cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)|==ERROR|panicked|SUMMARY' || true
  if compgen -G "fuzz/artifacts/$target/crash-*" >/dev/null; then
    echo "fuzz: $target crashed; the inputs are in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no crash"
