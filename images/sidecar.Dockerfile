# The Ratekeeper sidecar proxy, injected next to agents by the operator's webhook.
#
# Build the fat jar first, then the image from the repository root (docs/images.md):
#   ./mvnw -B -pl sidecar -am package -DskipTests
#   docker build -f images/sidecar.Dockerfile -t ghcr.io/ratekeeper/ratekeeper-sidecar:0.1.0 .
#
# Base: distroless Java 17 (glibc, CA certificates for the providers' TLS, no shell), user
# nonroot = 65532, the uid the webhook runs the sidecar as.
# eclipse-temurin:17-jre-alpine also works: --build-arg BASE_IMAGE=eclipse-temurin:17-jre-alpine
ARG BASE_IMAGE=gcr.io/distroless/java17-debian12:nonroot
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="ratekeeper-sidecar" \
      org.opencontainers.image.description="Ratekeeper sidecar: LLM API proxy deciding every request against shared Redis limits" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY sidecar/target/ratekeeper-sidecar.jar /app/ratekeeper-sidecar.jar
COPY images/sidecar-training-policy.yaml /app/training-policy.yaml

# Tunable JVM settings for a small one-core proxy, the same the webhook injects by default
# (RATEKEEPER_SIDECAR_JAVA_OPTIONS replaces them): serial GC, C1-only JIT with a 16 MiB code cache
# (docs/benchmarks.md: less memory and a cheaper warm-up than C2), small thread stacks, 60% of the
# memory limit for the heap (the rest: metaspace, code cache, threads, Netty's direct buffers),
# no perf-data file on the read-only root filesystem.
ENV JAVA_TOOL_OPTIONS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=16m -Xss256k -XX:MaxRAMPercentage=60 -XX:-UsePerfData"

# A class-data archive (AppCDS) of every class the sidecar loads until it is ready, written by one
# training run of the sidecar itself with the settings above (in-process store, exits once ready): a
# sidecar started with the archive maps those classes instead of loading, verifying and linking them
# (time to ready: docs/benchmarks.md). The archive matches this JVM and this jar only; a JVM that
# cannot use it (flags that change the heap layout, another base) starts without it, as before.
# Built for another architecture, this step needs emulation (docs/images.md).
USER root
RUN ["java", "-XX:ArchiveClassesAtExit=/app/ratekeeper-sidecar.jsa", "-jar", "/app/ratekeeper-sidecar.jar", \
     "--policy-file", "/app/training-policy.yaml", "--exit-when-ready"]

USER 65532:65532
# 8787: the proxy (loopback only by default); 9787: /metrics /healthz /readyz
EXPOSE 8787 9787
# Settings that always hold: a JVM out of memory exits and is restarted rather than limping on; the
# class-data archive written above.
ENTRYPOINT ["java", "-XX:SharedArchiveFile=/app/ratekeeper-sidecar.jsa", "-XX:+ExitOnOutOfMemoryError", "-jar", "/app/ratekeeper-sidecar.jar"]
