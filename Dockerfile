# The production image: `vitae api` by default, `vitae worker` as the worker's command.
FROM python:3.13-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH="/opt/venv/bin:$PATH" \
    VITAE_HOST=0.0.0.0 \
    VITAE_TEMPLATES_DIR=/app/templates

RUN pip install --no-cache-dir uv
WORKDIR /app

COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
COPY templates ./templates
RUN uv sync --frozen --no-dev

RUN useradd --create-home vitae
USER vitae
EXPOSE 8000
CMD ["vitae", "api"]
