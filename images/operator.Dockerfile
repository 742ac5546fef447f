# The Ratekeeper operator (and its sidecar-injection webhook).
#
# Build the fat jar first, then the image from the repository root (docs/images.md):
#   ./mvnw -B -pl operator -am package -DskipTests
#   docker build -f images/operator.Dockerfile -t ghcr.io/ratekeeper/ratekeeper-operator:0.1.0 .
#
# Base: distroless Java 17 (glibc, CA certificates, no shell), user nonroot = 65532.
# eclipse-temurin:17-jre-alpine also works: --build-arg BASE_IMAGE=eclipse-temurin:17-jre-alpine
ARG BASE_IMAGE=gcr.io/distroless/java17-debian12:nonroot
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="ratekeeper-operator" \
      org.opencontainers.image.description="Ratekeeper operator: RateLimitPolicy reconciler and sidecar-injection webhook" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY operator/target/ratekeeper-operator.jar /app/ratekeeper-operator.jar

# Tunable JVM settings (the chart's operator.javaOptions replaces them): one small heap with the
# serial collector, most of the container's memory for the heap; no perf-data file, since the
# root filesystem is read-only.
ENV JAVA_TOOL_OPTIONS="-XX:+UseSerialGC -XX:MaxRAMPercentage=70 -XX:-UsePerfData"

USER 65532:65532
# 9788: /metrics /healthz /readyz; 9443: the webhook (HTTPS)
EXPOSE 9788 9443
# Settings that always hold: a JVM out of memory exits and is restarted rather than limping on.
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-jar", "/app/ratekeeper-operator.jar"]
