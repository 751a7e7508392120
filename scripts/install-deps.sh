#!/usr/bin/env bash
# Installs the Debian packages given as arguments, but only those missing:
# a quick dpkg-query per package when everything is present, `apt-get update` only when
# something has to be installed.
set -euo pipefail

missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

echo "deps: installing ${missing[*]}"
sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { echo "deps: apt-get install failed for: ${missing[*]}" >&2; exit 1; }
# Debian's postgresql-common creates and starts a "main" cluster on first
# install. pymigrate never uses it; leave it alone but do not rely on it.
echo "deps: done"
