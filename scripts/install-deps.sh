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
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} packages"
