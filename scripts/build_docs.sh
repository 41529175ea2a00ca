#!/usr/bin/env bash
# Builds the documentation site with `mkdocs build --strict` (any warning, broken link or missing anchor
# fails it). The reference pages (configuration, environment variables, CLI, package graph) are generated
# from the code during the build by docs/gen_pages.py. Installs the `docs` extra first when MkDocs is
# missing (with the CPU constraints, like scripts/setup.sh).
#   bash scripts/build_docs.sh [SITE_DIR]     # default: site/ (ignored by git)
set -euo pipefail
cd "$(dirname "$0")/.."
site_dir="${1:-site}"
if ! python -c "import mkdocs, material, mkdocstrings, mkdocs_gen_files" 2>/dev/null; then
    echo "docs: installing the docs extra"
    python -m pip install -q -c scripts/constraints-cpu.txt -e ".[docs]"
fi
export NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -m mkdocs build --strict --site-dir "$site_dir"
