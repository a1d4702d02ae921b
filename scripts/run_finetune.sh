#!/usr/bin/env bash
# The seed's entry point, kept as a thin wrapper: `bash scripts/run_finetune.sh --dry-run`.
set -euo pipefail
export LEARNING_BACKEND="${LEARNING_BACKEND:-fine-tune}"
cd "$(dirname "$0")/.."
exec npm run tune -- "$@"
