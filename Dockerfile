# The wfctl worker (and, with another command, `wfctl codec-server` / `wfctl serve`).
#   docker build -t wfctl .
#   docker run --rm -e TEMPORAL_ADDRESS=temporal:7233 -v "$PWD/pipelines:/app/pipelines:ro" \
#       wfctl python worker.py --config pipelines
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject alone, so code edits do not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY interfaces ./interfaces
COPY engine ./engine
COPY workflows ./workflows
COPY activities ./activities
COPY providers ./providers
COPY statestore ./statestore
COPY wfctl ./wfctl
COPY worker.py ./
RUN pip install --no-deps .
COPY examples ./examples

RUN useradd --system --uid 10001 --home-dir /app wfctl
USER wfctl

# 9464: worker metrics (--metrics-port); 8081: codec server.
EXPOSE 9464 8081
# SIGTERM (docker stop) lets in-flight tasks finish before the worker exits.
CMD ["python", "worker.py", "--config", "examples"]
