# Presence Bridge. `make run` starts the desktop app; `make test` is everything CI runs.
CARGO ?= cargo

# salesforce-check: the Salesforce package without an org (salesforce/scripts/check.sh).
.PHONY: screenshots package package-test audit fuzz salesforce-check bench-desktop bench-scale deps run test fmt-check clippy unit-tests ui-tests ui-smoke icons build core-purity emulator bench keyring-tests soak

deps:
	@scripts/install-deps.sh

# One feature set for every build: `--all-targets` turns on the dev-dependencies' features as
# `cargo test` does, so the app, the tests and the UI smoke test share one build of the
# dependencies (a plain `cargo build` rebuilt the whole Tauri stack a second time, +3 GB).
build: deps
	$(CARGO) build --workspace --all-targets

# The demo: the cloud emulator, the call controller and the desktop app signed in as agent ada.
# Without a display (a bare server), the app runs on a virtual one.
run: build
	scripts/run-demo.sh target/debug/presence-emulator target/debug/presence-bridge target/debug/presence-controller

# The installable package: a .deb of the release build, by the Tauri bundler (desktop entry,
# hicolor icons, Depends), in target/release/bundle/deb/.
package: deps
	npx --no-install tauri build --bundles deb

# The .deb installed with dpkg, run in demo mode from /usr/bin, removed with dpkg -r.
package-test: deps
	scripts/package-test.sh

# The cloud emulator alone, on the demo scenario (control page at http://127.0.0.1:8787/_emulator/ui).
emulator:
	$(CARGO) run -p presence-emulator -- --port 8787 --scenario demo

# What an admin asks before a rollout (crates/presence-bench): presence latency after 0 to 300 s
# of idling, API economy per agent-hour, presence-agent's footprint (about eleven minutes, the
# parts at once), then the call controller's own cost. Writes BENCHMARKS.md's generated tables,
# bench/results.json, bench/samples.json and bench/*.svg.
bench: deps
	$(CARGO) build --release -p presence-bench -p presence-sync --bin presence-bench --bin presence-agent
	target/release/presence-bench run
	$(CARGO) run --release -p presence-controller --example controller_cost -- 200

# Tenant and org scale: 100, 250, 500, 1,000 and 2,000 agents against one emulator enforcing
# Graph's presence budget and the org's 1,000 streaming clients (six minutes or more a point,
# most of it the four minutes a tenant takes to settle after its agents sign in);
# PB_SCALE_AGENTS=100,500 for fewer.
bench-scale: deps
	$(CARGO) build --release -p presence-bench --bin presence-bench
	target/release/presence-bench scale $(if $(PB_SCALE_AGENTS),--agents $(PB_SCALE_AGENTS))

# The long runs of the fault matrix, on demand or nightly (not in `make test`): 200 SIGKILLs
# of presence-agent around missed calls (D1), 200 rounds of SIGKILL of the app and of the
# controller in every phase of a call (D1, whole system), and 40,000 cases of each engine
# property.
soak: deps
	PB_D1_LOOPS=200 $(CARGO) test -p presence-sync --test outbox d1_ -- --nocapture
	$(CARGO) build -p presence-sync --bin presence-agent
	PB_SOAK_ROUNDS=200 $(CARGO) test -p presence-controller --test soak -- --nocapture
	PROPTEST_CASES=40000 $(CARGO) test --release -p presence-core --test properties

# Every parser of outside data under libFuzzer, PB_FUZZ_SECONDS (60) each, on a nightly
# toolchain with cargo-fuzz (scripts/fuzz.sh); the corpus runs on stable in make test.
fuzz:
	scripts/fuzz.sh

# The dependency graph against deny.toml with cargo-deny: licences, bans, sources, and
# advisories where RustSec's database can be fetched (scripts/audit.sh).
audit: deps
	scripts/audit.sh

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: deps
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit-tests: deps
	$(CARGO) test --workspace

# The engine stays pure: no async runtime, HTTP client, GUI or clock crate in its dependencies.
core-purity:
	@if $(CARGO) tree -p presence-core -e normal --prefix none | grep -Ei '^(tokio|reqwest|hyper|tauri|wry|chrono|time|jiff|async-std|smol) '; then \
		echo "presence-core must not depend on the crates above"; exit 1; \
	else echo "core-purity: presence-core depends on no runtime, HTTP, GUI or clock crate"; fi

# The secret store against the real gnome-keyring under dbus-run-session.
keyring-tests: deps
	scripts/keyring-tests.sh

# The desktop app in its real webview with a tray host and a notification server (tests/desktop/).
ui-tests: deps
	scripts/ui-tests.sh

ui-smoke: ui-tests

# The README's screenshots (docs/screenshots/), from the first UI test's run.
screenshots: deps
	scripts/screenshots.sh

# The desktop app's release build: how fast a call reaches the desktop and leaves it, its
# memory with the panel open and closed, its start-up to the tray icon and the first snapshot,
# and its idle CPU beside presence-agent's (figures in BENCHMARKS.md and bench/results.json);
# PB_BENCH_ROUNDS=30, PB_IDLE_CPU_S=300.
bench-desktop: deps
	$(CARGO) build --release --bin presence-bridge
	$(CARGO) build --release -p presence-sync --bin presence-agent
	PB_APP_BIN=$(CURDIR)/target/release/presence-bridge scripts/ui-tests.sh bench_

# Renders ui/icons/presence/*.svg (the panel's icons) to the tray's PNGs in icons/presence/.
icons:
	@command -v rsvg-convert >/dev/null || (apt-get install -y -qq --no-install-recommends librsvg2-bin || sudo apt-get install -y -qq --no-install-recommends librsvg2-bin)
	for svg in ui/icons/presence/*.svg; do rsvg-convert -w 64 -h 64 "$$svg" -o icons/presence/$$(basename "$$svg" .svg).png; done

# The Salesforce package without an org: XML, schemas, conversion with the Salesforce CLI, the
# package's own rules, Apex syntax, formatting, ESLint and Jest; then the same checks on seeded
# faults, each of which must fail (about 90 s). What needs an org: README, "Install in your org".
salesforce-check: deps
	salesforce/scripts/check.sh --self-test

test: deps fmt-check core-purity audit clippy salesforce-check unit-tests keyring-tests ui-tests package-test
	@echo "make test: all checks passed"
