# Stands in for redis:7 where no registry answers: Debian bookworm's Redis 7.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
# As the official image does: no protected mode (other containers connect; no port is published).
RUN printf '#!/bin/sh\nif [ "$1" = redis-server ]; then shift; exec redis-server "$@" --protected-mode no; fi\nexec "$@"\n' \
        > /usr/local/bin/entrypoint && chmod 755 /usr/local/bin/entrypoint
WORKDIR /data
USER redis
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["redis-server"]
