#!/usr/bin/env bash
# The local demo: builds what it needs (first run downloads dependencies), then runs it.
# Needs only a JDK 17+. Pass --real to send a few requests to the Anthropic API (ANTHROPIC_API_KEY).
set -euo pipefail
cd "$(dirname "$0")"
echo "building the demo (./mvnw -q -pl demo -am package -DskipTests) ..."
./mvnw -q -B -pl demo -am package -DskipTests
exec java -XX:+UseSerialGC -jar demo/target/ratekeeper-demo.jar "$@"
