#!/usr/bin/env bash
# Limiter throughput through one Redis, side by side with redis-benchmark running the same EVALSHA
# and Bucket4j's Lettuce backend (sidecar/src/test/java/dev/ratekeeper/sidecar/bench/LimiterBench.java).
#
#   bench/limiter.sh                          # starts an embedded redis-server on a free port
#   bench/limiter.sh redis://127.0.0.1:6379   # or uses yours (writes keys under rk:{bench/limiter}: and bench:*)
#   SECONDS_EACH=10 bench/limiter.sh
#
# Prints a Markdown table (docs/benchmarks.md keeps the figures). Not a test: nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/need-redis-benchmark.sh

# -Pbench compiles the benchmark sources and adds Bucket4j + Lettuce (test scope, bench profile only)
./mvnw -B -q -Pbench -pl sidecar -am test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test
CP="sidecar/target/test-classes:sidecar/target/classes:$(cat sidecar/target/bench.classpath)"
exec java -XX:+UseParallelGC -cp "$CP" dev.ratekeeper.sidecar.bench.LimiterBench "${1:-embedded}" "${SECONDS_EACH:-5}"
