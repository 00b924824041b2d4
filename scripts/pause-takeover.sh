#!/bin/sh
# The long run of test/engine/pause-takeover.test.ts (outside npm test): a `p2tui run` stopped with SIGSTOP at random
# points, taken over by `session resume`, then continued with SIGCONT; fails on any effect executed twice.
# Usage: scripts/pause-takeover.sh [trials]   (default 200)
set -e
cd "$(dirname "$0")/.."
P2TUI_TRIALS="${1:-200}" exec npx vitest run test/engine/pause-takeover.test.ts
