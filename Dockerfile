FROM python:3.11-slim
WORKDIR /app
# WeasyPrint's Pango and the one font the PDFs embed (activities/pdf.py).
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
# Everything .dockerignore leaves: the packages pyproject.toml names and the top-level modules.
COPY . .
RUN pip install --no-cache-dir .
USER nobody
# The TLS proxy in front, whose X-Forwarded-Proto and X-Forwarded-For are believed (the console's
# cookie is `Secure` behind it): its address, as this container sees it; never "*".
ENV FORWARDED_ALLOW_IPS=127.0.0.1
CMD ["sh", "-c", "exec uvicorn web.app:app --host=0.0.0.0 --port=8000 --proxy-headers --forwarded-allow-ips=\"$FORWARDED_ALLOW_IPS\""]
