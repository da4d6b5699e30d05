# Stands in for rabbitmq:3.13-management where no registry answers: Debian bookworm's RabbitMQ.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/*
# As the official image does: RABBITMQ_DEFAULT_USER/PASS make the first user, who may log in from
# other containers; logs go to stdout.
RUN printf '%s\n' '#!/bin/sh' 'set -e' \
        'conf=/tmp/standin' \
        'echo "loopback_users = none" > $conf.conf' \
        '[ -z "$RABBITMQ_DEFAULT_USER" ] || echo "default_user = $RABBITMQ_DEFAULT_USER" >> $conf.conf' \
        '[ -z "$RABBITMQ_DEFAULT_PASS" ] || echo "default_pass = $RABBITMQ_DEFAULT_PASS" >> $conf.conf' \
        'export RABBITMQ_CONFIG_FILE=$conf' \
        'exec "$@"' > /usr/local/bin/entrypoint && chmod 755 /usr/local/bin/entrypoint
ENV RABBITMQ_LOGS=-
USER rabbitmq
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["rabbitmq-server"]
