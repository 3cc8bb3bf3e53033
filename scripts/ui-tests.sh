#!/usr/bin/env bash
# The desktop UI tests (tests/desktop/) against the real app in its real webview, with what a
# desktop gives it: a virtual display, a tray host (trayer, docked bottom right), a notification
# server (dunst) on a private session bus, and a record of every notification call
# (dbus-monitor → PB_NOTIFY_LOG) for the test to read. Screenshots land in target/shots/.
# `scripts/ui-tests.sh bench_` runs the desktop benchmark instead (make bench-desktop).
set -euo pipefail
if [ "${PB_UI_SESSION:-}" != 1 ]; then
  exec dbus-run-session -- env PB_UI_SESSION=1 "$0" "$@"
fi
shots=target/shots
mkdir -p "$shots"
rm -f "$shots"/desktop-*.png
# Build first, so that the display and its helpers do not wait on the compiler.
cargo test -q --workspace --test desktop --no-run
# Xvfb picks a free display itself and writes its number (another run, or a developer's own
# Xvfb, may hold any number we would guess).
displayfile=$(mktemp)
Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$displayfile" >/dev/null 2>&1 &
helpers=($!)
trap 'kill "${helpers[@]}" 2>/dev/null || true; rm -f "$displayfile"' EXIT
for _ in $(seq 150); do [ -s "$displayfile" ] && break; sleep 0.1; done
[ -s "$displayfile" ] || { echo "ui-tests: Xvfb did not start in 15 s"; exit 1; }
display=":$(tr -d '[:space:]' <"$displayfile")"
export DISPLAY=$display NO_AT_BRIDGE=1
for _ in $(seq 100); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
xdpyinfo >/dev/null 2>&1 || { echo "ui-tests: Xvfb did not answer on $display"; exit 1; }
export PB_NOTIFY_LOG=$PWD/$shots/notifications.log
dbus-monitor --session "interface='org.freedesktop.Notifications'" >"$PB_NOTIFY_LOG" 2>&1 &
helpers+=($!)
# dunst reads bodies as markup (so caller data must arrive escaped), and its context menu,
# which normally asks dmenu which action to take, always picks "Decline": a test can choose on
# a toast through the notification server itself.
printf '[global]\n    markup = full\n    dmenu = /bin/grep -m1 -e Decline\n' >"$shots/dunstrc"
dunst -config "$shots/dunstrc" >"$shots/dunst.log" 2>&1 &
helpers+=($!)
trayer --edge bottom --align right --widthtype pixel --width 120 --height 32 \
  --tint 0xdddddd --transparent false --SetDockType true >/dev/null 2>&1 &
helpers+=($!)
for _ in $(seq 50); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null |
    grep -q true && break
  sleep 0.1
done
# Arguments choose the tests (default: every UI test, no benchmark).
filter=("$@")
[ ${#filter[@]} -gt 0 ] || filter=(--skip bench_)
cargo test -q --workspace --test desktop -- --ignored --nocapture --test-threads=1 "${filter[@]}"
echo "ui-tests: screenshots in $shots/desktop-*.png"
