#!/usr/bin/env bash
set -euo pipefail

TARGET="${1:-staging}"
LOG=/tmp/deploy.log

# Prints a message with a timestamp.
log() {
  echo "$(date +%T) $*" | tee -a "$LOG"
}

function deploy {
  log "deploying to $TARGET"
  rsync -a dist/ "$TARGET:/srv/app"
}

deploy
