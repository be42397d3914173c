#!/usr/bin/env bash
# Set up .venv with every test dependency, then lint, type-check and run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k zarrio -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if [ "${CI:-}" = "true" ] && [ -f scripts/start_mariadb.sh ]; then
  # CI installs MariaDB from Debian packages so the MySQL flavour of the DataJoint tests runs too.
  bash scripts/start_mariadb.sh || echo "MariaDB could not be started; MySQL tests will be skipped"
fi
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
