#!/usr/bin/env bash
# Install the Debian 12 packages kstreams-c builds with, if any is missing.
# Uses sudo only when not root.
set -euo pipefail
pkgs=(build-essential g++ pkg-config meson ninja-build
      librdkafka-dev librocksdb-dev libavro-dev libcmocka-dev clang-format
      libmicrohttpd-dev python3-prometheus-client)
missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing+=("$p")
done
# The test suite's real Kafka broker needs Java, Maven and Python: any
# installation will do, the packages only when the command is missing.
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v python3 >/dev/null || missing+=(python3)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
