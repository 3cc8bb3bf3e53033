#!/usr/bin/env bash
# `make screenshots`: the README's pictures (docs/screenshots/), cut from what the UI tests
# see (scripts/ui-tests.sh, target/shots/) in the states an agent meets: the panel available,
# ringing with its toast, on a call, in wrap-up, in Do Not Disturb with a blocked call, logged
# out with "No connection to Teams", and the tray menu. Look at them before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ui-tests.sh an_agent_takes_a_call
shots=target/shots
out=docs/screenshots
mkdir -p "$out"
panel=420x640+0+0
cut() { convert "$shots/$1" -crop "$2" +repage "$out/$3"; echo "screenshots: $out/$3"; }
cut desktop-1-started.png "$panel" panel-available.png
cut desktop-2-ringing.png "$panel" panel-ringing.png
cut desktop-2-ringing.png 340x90+684+40 toast-ringing.png
cut desktop-2b-on-a-call.png "$panel" panel-on-a-call.png
cut desktop-3-wrap-up.png "$panel" panel-wrap-up.png
cut desktop-4-tray-menu.png 238x386+786+351 tray-menu.png
cut desktop-4b-dnd-blocked.png "$panel" panel-dnd-blocked-call.png
cut desktop-15-logged-out.png "$panel" panel-logged-out.png
