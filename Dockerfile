FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LENNY_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lenny lenny
COPY accounts accounts
COPY market market
COPY stores stores
RUN pip install --no-cache-dir .
COPY manage.py ./
COPY templates templates
COPY static static
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["gunicorn", "lenny.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-", "--logger-class", "accounts.access_log.RedactingGunicornLogger"]
