# The app for docker compose: provisions the configured emulator and database, then serves
# HTTP and the event runner (functions/local/serve.py uses DATABASE_URL / AWS_ENDPOINT_URL
# when they are set, so nothing embedded starts here).
FROM python:3.12-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt requirements-dev.txt ./
RUN pip install --no-cache-dir -r requirements-dev.txt
COPY . .
EXPOSE 8000
CMD ["python", "-m", "functions.local.serve", "--host", "0.0.0.0", "--port", "8000"]
