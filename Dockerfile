FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings

WORKDIR /app
RUN useradd --create-home --uid 1000 logcenter
# gettext's msgfmt compiles the translation catalogs below (Debian's package).
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Build time only: the settings refuse to load with DEBUG off and no SECRET_KEY/REDIS_URL.
RUN DEBUG=1 python manage.py collectstatic --noinput \
    && DEBUG=1 python manage.py compilemessages --verbosity 0 \
    && mkdir -p /app/var/media && chown -R logcenter /app/var

USER logcenter
EXPOSE 8000
# The web process; docker-compose runs the worker and beat from the same image. Two worker
# processes per core, two threads each (docs/operations.md: measured on 2 cores).
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "2", "--access-logfile", "-"]
