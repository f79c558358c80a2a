# Stand-in for the official postgres image: Debian's PostgreSQL server (15 on bookworm), initialised
# on first start from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB as the official image is.
ARG BASE_IMAGE=pixelflow-standin/debian:bookworm
FROM ${BASE_IMAGE}
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/postgres /usr/local/bin/ \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY infra/compose/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
HEALTHCHECK --interval=2s --retries=30 CMD pg_isready -h 127.0.0.1 -U "${POSTGRES_USER:-postgres}" || exit 1
ENTRYPOINT ["postgres-entrypoint"]
CMD ["postgres"]
