#!/usr/bin/env bash
# Starts the desktop app on a virtual display, checks that its window maps and renders
# something other than a blank, and keeps the screenshot in target/shots/.
set -euo pipefail
bin=${1:-target/debug/presence-bridge}
shots=target/shots
mkdir -p "$shots"
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
app=""
cleanup() {
  [ -n "$app" ] && kill "$app" 2>/dev/null || true
  kill "$xvfb" 2>/dev/null || true
}
trap cleanup EXIT
export DISPLAY=$display NO_AT_BRIDGE=1
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" >"$shots/ui-smoke.log" 2>&1 &
app=$!
found=""
for _ in $(seq 100); do
  if ! kill -0 "$app" 2>/dev/null; then
    echo "ui-smoke: the app exited early:"; cat "$shots/ui-smoke.log"; exit 1
  fi
  if xwininfo -root -tree 2>/dev/null | grep -q '"Presence Bridge"'; then found=yes; break; fi
  sleep 0.1
done
[ -n "$found" ] || { echo "ui-smoke: no 'Presence Bridge' window within 10 s"; exit 1; }
# Give the webview time to render the snapshot, then require more than a blank window.
for _ in $(seq 40); do
  sleep 0.5
  import -window root "$shots/ui-smoke.png"
  colours=$(convert "$shots/ui-smoke.png" -crop 420x560+0+0 -format %k info:)
  [ "$colours" -gt 20 ] && { echo "ui-smoke: window rendered ($colours colours), screenshot $shots/ui-smoke.png"; exit 0; }
done
echo "ui-smoke: the window stayed blank"; exit 1
