# Presence Bridge. `make run` starts the desktop app; `make test` is everything CI runs.
CARGO ?= cargo

.PHONY: deps run test fmt-check clippy unit-tests ui-smoke build

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace

# The desktop app. Without a display (a bare server), it runs on a virtual one.
run: build
	@if [ -n "$$DISPLAY" ]; then \
		$(CARGO) run --bin presence-bridge; \
	else \
		echo "No DISPLAY: running on a virtual display (xvfb-run); screenshots with 'import -window root'"; \
		xvfb-run -a $(CARGO) run --bin presence-bridge; \
	fi

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: deps
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit-tests: deps
	$(CARGO) test --workspace

ui-smoke: build
	scripts/ui-smoke.sh target/debug/presence-bridge

test: deps fmt-check clippy unit-tests ui-smoke
	@echo "make test: all checks passed"
