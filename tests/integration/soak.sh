#!/usr/bin/env bash
# Soak in CI (issue 18): tests/soak/soak.sh for 15 s per web server (lighttpd
# with 2 responders, nginx in front of a spawn-fcgi pool of 2), 64
# connections, an origin injecting faults. By hand, longer:
#   tests/soak/soak.sh --duration 60
exec bash "$(dirname "$0")/../soak/soak.sh" --duration "${SOAK_DURATION:-15}" "$@"
