FROM python:3.11-slim
WORKDIR /app
# Everything .dockerignore leaves: the packages pyproject.toml names and the top-level modules.
COPY . .
RUN pip install --no-cache-dir .
USER nobody
CMD ["uvicorn", "web.app:app", "--host", "0.0.0.0", "--port", "8000"]
