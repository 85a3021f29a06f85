# Vitae's developer commands. `just` lists them.

# uv cannot download Python offline; prefer an installed 3.13 (pyenv's, if any), else let uv fetch one.
export UV_PYTHON := `for p in "$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 "$(command -v python3.13 2>/dev/null)"; do [ -x "$p" ] && { echo "$p"; exit 0; }; done; echo 3.13`

# List every recipe
default:
    @just --list --unsorted

# Install the project and its dev tools into .venv
sync:
    uv sync --frozen

# Run the whole service: embedded Valkey, MongoDB-wire store, local storage, API and a worker
dev: sync
    uv run vitae dev

# Run the API only (needs VITAE_REDIS_URL and VITAE_MONGODB_URL)
api: sync
    uv run vitae api

# Run one worker (needs VITAE_REDIS_URL and VITAE_MONGODB_URL)
worker: sync
    uv run vitae worker

# Run the test suite against real servers it starts itself
test *ARGS: sync browser
    uv run pytest {{ARGS}}

# Install Debian's Chromium and its fonts (CJK included, browser test) and poppler-utils (pdftotext, document tests) when missing (needs root and apt)
browser:
    @{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/pdftotext ] && dpkg -s fonts-noto-cjk >/dev/null 2>&1; } || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation fonts-noto-cjk poppler-utils >/dev/null; }
    @[ -x /usr/bin/chromium ] || echo "warning: /usr/bin/chromium is missing: the browser test will fail (apt-get install chromium)"
    @[ -x /usr/bin/pdftotext ] || echo "warning: pdftotext is missing: the document tests will fail (apt-get install poppler-utils)"
    @dpkg -s fonts-noto-cjk >/dev/null 2>&1 || echo "warning: fonts-noto-cjk is missing: CJK shows as boxes in the browser test (apt-get install fonts-noto-cjk)"

# Long fault and load runs (a burst of 1,000 exports to two workers)
chaos *ARGS: sync
    uv run pytest -m chaos -s {{ARGS}}

# Benchmark Typst alone, render isolation, templates, the peers and Vitae end to end (--quick, --only PART, --profile, --no-write); writes docs/benchmarks.md
bench *ARGS: browser
    uv sync --frozen --group bench
    uv run --frozen --group bench python bench/pipeline.py {{ARGS}}

# Benchmark live events: 1,000 dashboard streams on one API process, delivery delay and memory per stream
bench-sse *ARGS: sync
    uv run python bench/sse.py {{ARGS}}

# Soak: one steady load on an empty store and on one holding 50,000 exports (--quick: 5,000 and 15 s); writes docs/benchmarks.md
soak *ARGS: sync
    uv run python bench/soak.py {{ARGS}}

# Lint, check formatting, type-check and check the import contracts (pyproject's importlinter)
lint: sync
    uv run ruff check src tests bench
    uv run ruff format --check src tests bench
    uv run basedpyright
    uv run lint-imports

# Format the code and apply safe fixes
fmt: sync
    uv run ruff format src tests bench
    uv run ruff check --fix src tests bench

# Render a résumé locally, no service: just render RESUME.json classic out.pdf
render RESUME TEMPLATE="classic" OUT="resume.pdf": sync
    uv run vitae render {{RESUME}} -t {{TEMPLATE}} -o {{OUT}}

# Refresh the API docs page's Swagger UI files from npm's swagger-ui-dist at VERSION
docs-assets VERSION:
    #!/usr/bin/env bash
    set -euo pipefail
    tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "swagger-ui-dist@{{VERSION}}" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
    for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
        cp "$tmp/package/$f" src/vitae/web/static/docs/
    done
    sed -i "s/^Swagger UI \*\*[^*]*\*\*/Swagger UI **{{VERSION}}**/" src/vitae/web/static/docs/README.md
    echo "Swagger UI {{VERSION}} copied; check the docs page and commit"

# Start the production shape with Docker Compose (api, worker, mongo, redis, minio)
up *ARGS:
    docker compose up --build {{ARGS}}

# Stop the Compose stack
down:
    docker compose down
