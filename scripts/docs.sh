#!/usr/bin/env bash
# Build the documentation site into docs/_build/html: set up .venv with the `docs` extra (pinned, as the tests
# are), then Sphinx with warnings as errors. Every tutorial and migration guide (docs/tutorials/*.py,
# docs/migration/*.py) runs during the build; one that raises, an API page whose object cannot be imported,
# a public name without a docstring or with an undocumented parameter, or an error class without its
# troubleshooting entry fails it. Needs no network once .venv is installed.
# Extra arguments go to sphinx-build (e.g. scripts/docs.sh -E to rebuild every page).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh docs
export MPLBACKEND=Agg
# the performance page's figures, from the committed benchmark results (benchmarks/results/*.json)
.venv/bin/python benchmarks/plots.py --out docs/generated/performance
.venv/bin/python -m sphinx -W --keep-going -b html "$@" docs docs/_build/html
echo "docs built: docs/_build/html/index.html"
