#!/usr/bin/env bash
# Everything a fresh Debian bookworm machine needs, idempotent and cached:
# host packages (apt-get, by name) and the armhf sysroot (private apt state).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup-host.sh"
"$here/fetch-armhf-sysroot.sh"
