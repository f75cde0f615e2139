#!/usr/bin/env bash
# Install one Debian package with apt-get (through sudo unless root): .ci/postgres.sh and .ci/chromium.sh call it
# once they have found the package absent. Usage: .ci/debian_package.sh PACKAGE WHAT-NEEDS-IT
set -euo pipefail
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "+ apt-get install $1 (for $2)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
