FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY projection ./projection
COPY api ./api
COPY settings.py worker.py embedded.py observability.py ./
RUN pip install --no-cache-dir .
USER nobody
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
