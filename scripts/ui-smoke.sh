#!/usr/bin/env bash
# Starts the desktop app on a virtual display, checks that its window maps and renders
# something other than a blank, and keeps the screenshot in target/shots/.
set -euo pipefail
bin=${1:-target/debug/presence-bridge}
emulator=${2:-target/debug/presence-emulator}
shots=target/shots
mkdir -p "$shots"
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
app=""
emu=""
cleanup() {
  [ -n "$app" ] && kill "$app" 2>/dev/null || true
  [ -n "$emu" ] && kill "$emu" 2>/dev/null || true
  kill "$xvfb" 2>/dev/null || true
}
trap cleanup EXIT
export DISPLAY=$display NO_AT_BRIDGE=1
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
# The app signs in to an emulator of its own, so the window shows live state; its data
# directory is new as well.
rm -rf "$shots/data"
"$emulator" --port 0 --scenario demo >"$shots/ui-smoke-emulator.log" 2>&1 &
emu=$!
for _ in $(seq 100); do grep -q '^presence-emulator listening on' "$shots/ui-smoke-emulator.log" && break; sleep 0.05; done
base=$(sed -n 's/^presence-emulator listening on \(http:[^ ]*\).*/\1/p' "$shots/ui-smoke-emulator.log")
[ -n "$base" ] || { echo "ui-smoke: the emulator did not start"; exit 1; }
PRESENCE_BRIDGE_EMULATOR=$base PRESENCE_BRIDGE_USER=ada PRESENCE_BRIDGE_DATA_DIR="$shots/data" "$bin" >"$shots/ui-smoke.log" 2>&1 &
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
  # Rendered, and connected: the emulator saw the app sign in and write the agent's record.
  if [ "$colours" -gt 20 ] && curl -s "$base/_emulator/state" | grep -q "Agent_Presence__c"; then
    sleep 1; import -window root "$shots/ui-smoke.png"
    echo "ui-smoke: window rendered ($colours colours) and signed in to the emulator; screenshot $shots/ui-smoke.png"; exit 0
  fi
done
echo "ui-smoke: the window stayed blank"; exit 1
