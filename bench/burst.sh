#!/usr/bin/env bash
# Decision latency under bursts (1, 3, 8 sidecars x 100 admissions at once) through the sidecar's own
# Redis client set-up (RedisLink), side by side with redis-benchmark running the same EVALSHA with as
# many clients (sidecar/src/test/java/dev/ratekeeper/sidecar/bench/BurstBench.java).
#
#   bench/burst.sh                          # starts an embedded redis-server on a free port
#   bench/burst.sh redis://127.0.0.1:6379   # or uses yours (writes keys under rk:{bench/burst}:)
#
# Prints a Markdown table (docs/benchmarks.md keeps the figures). Not a test: nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/need-redis-benchmark.sh

./mvnw -B -q -Pbench -pl sidecar -am test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test
CP="sidecar/target/test-classes:sidecar/target/classes:$(cat sidecar/target/bench.classpath)"
exec java -cp "$CP" dev.ratekeeper.sidecar.bench.BurstBench "${1:-embedded}"
