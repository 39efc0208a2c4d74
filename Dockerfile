# One image for the four services; docker-compose.yml picks the service with `command:`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip install .

# The demo catalog (LIENTHONG_CATALOG's default) lives outside the Python packages.
COPY infra ./infra
ENV LIENTHONG_CATALOG=/app/infra/catalog/demo.yaml

RUN useradd --system --uid 10001 --no-create-home lienthong
USER lienthong

CMD ["python", "-m", "services.intake"]
