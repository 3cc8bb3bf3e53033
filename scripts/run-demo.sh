#!/usr/bin/env bash
# The demo: the cloud emulator on a free loopback port, the call controller (our Teams calling
# bot) with its webhook registered at the emulator, and the desktop app signed in to it as one
# agent (PRESENCE_BRIDGE_USER, default ada). Ctrl-C stops all three (the app logs out first);
# closing the window hides it to the tray, whose Quit ends the app.
set -euo pipefail
emulator=${1:-target/debug/presence-emulator}
app=${2:-target/debug/presence-bridge}
controller=${3:-target/debug/presence-controller}
log=$(mktemp)
controller_log=$(mktemp)
# The demo's emulator is new every run, so is the agent's data (outbox, stream positions).
data=$(mktemp -d)
"$emulator" --port "${PRESENCE_BRIDGE_EMULATOR_PORT:-0}" --scenario demo >"$log" 2>&1 &
emu=$!
ctl=
trap 'kill "$emu" $ctl 2>/dev/null || true; rm -rf "$log" "$controller_log" "$data"' EXIT
# Waits (up to 10 s) until process $1 writes a line matching $3 to its log $2; shows the log
# and fails if the process ends first.
await_line() {
  for _ in $(seq 200); do
    grep -q "$3" "$2" && return 0
    kill -0 "$1" 2>/dev/null || { cat "$2"; exit 1; }
    sleep 0.05
  done
}
await_line "$emu" "$log" '^presence-emulator listening on'
base=$(sed -n 's/^presence-emulator listening on \(http:[^ ]*\).*/\1/p' "$log")
[ -n "$base" ] || { echo "run-demo: the emulator did not start"; cat "$log"; exit 1; }
echo "Emulator: $base  (control page: $base/_emulator/ui; act as the agent in Teams and Salesforce there)"
# The controller signs in to the emulated tenant and org; its webhook is then set at the
# emulated Azure Bot (what an admin does on the bot's Calling tab).
"$controller" --config crates/presence-controller/demo.toml --emulator "$base" --listen 127.0.0.1:0 --store "$data/controller.sqlite" >"$controller_log" 2>&1 &
ctl=$!
await_line "$ctl" "$controller_log" 'webhook listening on'
webhook=$(sed -n 's/.*webhook listening on \(https\{0,1\}:[^ ]*\).*/\1/p' "$controller_log")
[ -n "$webhook" ] || { echo "run-demo: the controller did not start"; cat "$controller_log"; exit 1; }
# Its webhook serves HTTPS with a self-signed certificate: the emulated calling service is told
# to trust it (as Microsoft's trusts a public certificate).
pem=$(sed -n 's/.*webhook certificate (self-signed, for the caller to trust): \(.*\)$/\1/p' "$controller_log")
# (A PEM is base64 and dashes: only its line ends need escaping in JSON.)
trust=null
[ -n "$pem" ] && trust="\"$(awk '{printf "%s\\n", $0}' "$pem")\""
curl -sf -X POST -H 'content-type: application/json' \
  -d "{\"webhook\":\"$webhook\",\"trust_pem\":$trust}" "$base/_emulator/calling" >/dev/null
echo "Call controller: $webhook  (log: $controller_log)"
echo "Desktop app: signed in as ${PRESENCE_BRIDGE_USER:-ada}"
export PRESENCE_BRIDGE_EMULATOR=$base PRESENCE_BRIDGE_USER=${PRESENCE_BRIDGE_USER:-ada}
export PRESENCE_BRIDGE_DATA_DIR=${PRESENCE_BRIDGE_DATA_DIR:-$data}
if [ -n "${DISPLAY:-}" ]; then
  "$app"
else
  echo "No DISPLAY: running on a virtual display (xvfb-run)"
  xvfb-run -a "$app"
fi
