#!/bin/bash
# Run on the login node (or as a one-task job) beside Redis: the search keeps the workers busy.
set -euo pipefail
: "${QUEUE_URL:?set QUEUE_URL, e.g. export QUEUE_URL=redis://login-node:6379}"
dir=/shared/runs/evolve-mlp-evolve
if [ -f "$dir/.lion-train-evolve" ]; then
  exec npx lion-train evolve --resume "$dir" --queue "$QUEUE_URL" --jobs 16
else
  exec npx lion-train evolve configs/evolve-mlp.yaml --dir "$dir" --queue "$QUEUE_URL" --jobs 16
fi
