# A single-node Apache Kafka image for the tests' Testcontainers path (docs/guides/local-kafka.md),
# built here without a registry: `node deploy/tools/images.mjs build kafka`. It stands in for the
# official apache/kafka image: the same entry point (/etc/kafka/docker/run: KAFKA_* variables →
# server.properties, KRaft storage formatted with CLUSTER_ID at start, the broker in the
# foreground), the same paths and port, from the Maven jars of the version pinned in
# deploy/kafka/pom.xml.
#
# Build context (prepared by images.mjs): libs/ holds those jars, docker/ the files of
# deploy/docker/kafka/.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# Debian's Java 17 runtime, with the libraries and CA certificates its package depends on.
# The JRE's post-install step needs the manual page directory that slim bases leave out.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      openjdk-17-jre-headless \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
      /usr/share/man/* /usr/share/doc/*/changelog*
COPY libs/ /opt/kafka/libs/
COPY docker/ /etc/kafka/docker/
# The official image's user and writable places: the final configuration, the
# log directories, and /mnt/shared/config for mounted property files.
RUN useradd --uid 1000 --create-home --shell /bin/bash appuser \
 && mkdir -p /opt/kafka/config /opt/kafka/logs /var/lib/kafka/data /etc/kafka/secrets \
      /mnt/shared/config \
 && chmod 0755 /etc/kafka/docker/run \
 && chown -R appuser:appuser /opt/kafka/config /opt/kafka/logs /var/lib/kafka/data \
      /etc/kafka/secrets /mnt/shared/config
ENV KAFKA_HOME=/opt/kafka
USER appuser
EXPOSE 9092
CMD ["/etc/kafka/docker/run"]
