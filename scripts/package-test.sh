#!/usr/bin/env bash
# The .deb as IT rolls it out: the Tauri bundler packs the app (the debug build the other
# tests use, so nothing is built twice; `make package` packs the release build the same way),
# dpkg installs it, the installed /usr/bin/presence-bridge runs the demo (scripts/run-demo.sh:
# emulator, controller, app) on a virtual display until it has signed in and synced, SIGTERM
# ends it logged out, and `dpkg -r` removes every file it installed. Needs root (or sudo).
set -euo pipefail
if [ "${PB_UI_SESSION:-}" != 1 ]; then
  exec dbus-run-session -- env PB_UI_SESSION=1 "$0" "$@"
fi
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
fail() { echo "package-test: $*" >&2; exit 1; }

cargo build -q --workspace --all-targets
rm -rf target/debug/bundle/deb
npx --no-install tauri bundle --debug --bundles deb >target/package-bundle.log 2>&1 ||
  { cat target/package-bundle.log; fail "the bundler failed"; }
debs=(target/debug/bundle/deb/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one .deb, found: ${debs[*]}"
deb=${debs[0]}
echo "package-test: $(basename "$deb"), $(du -h "$deb" | cut -f1)"
control=$(dpkg-deb -f "$deb" Package Version Depends)
echo "$control" | grep -qx "Package: presence-bridge" || fail "package name: $control"
echo "$control" | grep -q "libwebkit2gtk-4.1-0" || fail "no webkit dependency: $control"
echo "$control" | grep -q "libayatana-appindicator3-1" || fail "no tray dependency: $control"

if dpkg-query -W -f='${Status}' presence-bridge 2>/dev/null | grep -q "ok installed"; then
  echo "package-test: a presence-bridge package is installed already; it is replaced, then removed"
fi
$sudo dpkg -i "$deb" >/dev/null
installed=$(dpkg -L presence-bridge)
for file in /usr/bin/presence-bridge "/usr/share/applications/Presence Bridge.desktop" \
  /usr/share/icons/hicolor/32x32/apps/presence-bridge.png \
  /usr/share/icons/hicolor/128x128/apps/presence-bridge.png \
  /usr/share/icons/hicolor/256x256/apps/presence-bridge.png; do
  echo "$installed" | grep -qx "$file" || fail "not installed: $file"
  [ -e "$file" ] || fail "missing on disk: $file"
done
grep -qx "Exec=presence-bridge" "/usr/share/applications/Presence Bridge.desktop" ||
  fail "the desktop entry does not start presence-bridge"

# The installed binary in demo mode, on its own display, until the agent is signed in and synced.
# Xvfb picks a free display and writes its number (a guessed one may be taken).
displayfile=$(mktemp)
Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$displayfile" >/dev/null 2>&1 &
xvfb=$!
demo_log=target/package-demo.log
data=$(mktemp -d)
cleanup() {
  pkill -TERM -x presence-bridge 2>/dev/null || true
  kill "$xvfb" 2>/dev/null || true
  rm -rf "$data" "$displayfile"
}
trap cleanup EXIT
for _ in $(seq 150); do [ -s "$displayfile" ] && break; sleep 0.1; done
[ -s "$displayfile" ] || fail "Xvfb did not start in 15 s"
display=":$(tr -d '[:space:]' <"$displayfile")"
for _ in $(seq 100); do DISPLAY=$display xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
DISPLAY=$display NO_AT_BRIDGE=1 PRESENCE_BRIDGE_DATA_DIR=$data \
  scripts/run-demo.sh target/debug/presence-emulator /usr/bin/presence-bridge \
  target/debug/presence-controller >"$demo_log" 2>&1 &
demo=$!
base=
for _ in $(seq 300); do
  base=$(sed -n 's/^Emulator: \(http:[^ ]*\).*/\1/p' "$demo_log")
  [ -n "$base" ] && break
  kill -0 "$demo" 2>/dev/null || { cat "$demo_log"; fail "the demo ended before the emulator started"; }
  sleep 0.1
done
[ -n "$base" ] || fail "the demo's emulator did not start"
agent_field() {
  curl -sf "$base/_emulator/state" | python3 -c '
import json, sys
state = json.load(sys.stdin)
ada = next(agent for agent in state["agents"] if agent["name"] == "ada")
print(ada["salesforce"].get(sys.argv[1]))' "$1" 2>/dev/null || true
}
synced=
for _ in $(seq 300); do
  [ "$(agent_field Origin_Client__c)" = "presence-bridge:ada" ] && { synced=1; break; }
  kill -0 "$demo" 2>/dev/null || { cat "$demo_log"; fail "the demo ended before the app synced"; }
  sleep 0.1
done
[ -n "$synced" ] || { cat "$demo_log"; fail "the installed app did not sign in and sync within 30 s"; }
DISPLAY=$display xdotool search --onlyvisible --name '^Presence Bridge$' >/dev/null ||
  fail "the installed app shows no panel"
# What the agent sees: the panel painted from the installed app's own pages, with the green
# Available icon at its top.
mkdir -p target/shots
shot=target/shots/package-installed.png
painted=
for _ in $(seq 60); do
  DISPLAY=$display import -window root "$shot"
  # The histogram is read whole before grep looks: `grep -q` leaving at its first match would
  # end convert with SIGPIPE, which pipefail counts as a failure (a painted panel was missed so).
  colours=$(convert "$shot" -crop 420x240+0+0 +repage -format %c histogram:info:-)
  grep -qi "#6BB700" <<<"$colours" && { painted=1; break; }
  sleep 0.25
done
[ -n "$painted" ] || fail "the installed app's panel did not paint (see $shot)"
echo "package-test: the installed app signed in as ada and synced ($(agent_field State__c) in Salesforce)"
pkill -TERM -x presence-bridge
for _ in $(seq 150); do kill -0 "$demo" 2>/dev/null || break; sleep 0.1; done
kill -0 "$demo" 2>/dev/null && fail "the installed app did not quit on SIGTERM"

$sudo dpkg -r presence-bridge >/dev/null
dpkg-query -W -f='${Status}' presence-bridge 2>/dev/null | grep -q "ok installed" &&
  fail "still installed after dpkg -r"
while IFS= read -r file; do
  [ -f "$file" ] && fail "left behind by dpkg -r: $file"
done <<<"$installed"
echo "package-test: installed, ran in demo mode and removed cleanly"
