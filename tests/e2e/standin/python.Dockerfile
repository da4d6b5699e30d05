# Stands in for python:3.11-slim where no registry answers: Debian bookworm's Python 3.11 with pip.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-pip python3-venv ca-certificates passwd \
    && rm -rf /var/lib/apt/lists/*
# pip and uv trust the machine's certificate store (which the base image copied from the host),
# not only their bundled roots: a TLS-inspecting egress proxy then works as it does on the host.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    UV_NATIVE_TLS=1
CMD ["python3"]
