# The newest Python cstrack supports (3.11–3.13; pyproject.toml).
FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_ENV=production
WORKDIR /app
COPY requirements ./requirements
RUN pip install --no-cache-dir -r requirements/base.txt
COPY . .
RUN useradd --system --uid 1000 cstrack && mkdir -p /app/var/media && chown -R cstrack /app/var
USER cstrack
# collectstatic needs no secrets at build time beyond placeholders that production refuses at run time
RUN SECRET_KEY=build PII_ENCRYPTION_KEYS=MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA= PII_HASH_KEY=build \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput -v0
EXPOSE 8000
# config/gunicorn.py: 3 workers, an access log without query strings, latency metrics merged
# across the workers (prometheus_client multiprocess mode, set up by that file for web only).
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
