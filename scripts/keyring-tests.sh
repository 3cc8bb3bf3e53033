#!/usr/bin/env bash
# The secret-store tests against the real OS keyring (and the A4 crash test, which keeps its
# tokens there): gnome-keyring, unlocked, in a private session bus and a throw-away data
# directory; then locked, in a session of its own; then once with no session bus at all.
set -euo pipefail
# --workspace everywhere: the same feature set as `cargo test --workspace`, so nothing is rebuilt.
cargo test -q --workspace --test keyring --test crash_refresh --no-run
keyrings=$(mktemp -d)
trap 'rm -rf "$keyrings"' EXIT
dbus-run-session -- bash -c '
  export XDG_DATA_HOME="$1"
  eval "$(printf "test-password" | gnome-keyring-daemon --unlock --components=secrets)"
  cargo test -q --workspace --test keyring --test crash_refresh -- --ignored --test-threads=1 with_keyring
' keyring-tests "$keyrings" 2> >(grep -vE "Gtk-WARNING|fd limit|SystemPrompter" >&2)
# A keyring that is locked (row A6): a session of its own, since the test locks it.
mkdir "$keyrings/locked"
dbus-run-session -- bash -c '
  export XDG_DATA_HOME="$1"
  eval "$(printf "test-password" | gnome-keyring-daemon --unlock --components=secrets)"
  # On a display, so that an unlock prompt would stay open (gcr-prompter) instead of failing.
  xvfb-run -a cargo test -q --workspace --test keyring -- --ignored --test-threads=1 locked_keyring
' keyring-tests "$keyrings/locked" 2> >(grep -vE "Gtk-WARNING|fd limit|SystemPrompter|cannot open display" >&2)
env -u DBUS_SESSION_BUS_ADDRESS cargo test -q --workspace --test keyring -- --ignored without_keyring
