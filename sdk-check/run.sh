#!/usr/bin/env bash
# The official-SDK check: the real Anthropic and OpenAI Node SDKs, OpenAI's AzureOpenAI client included (versions pinned in
# sdk-check/package.json, unmodified, only baseURL pointed at the sidecar) against a sidecar started
# from sdk-check/policy.yaml in front of the stub provider. Proves that normal and streamed calls work
# and report usage, and that Ratekeeper's 429s and 4xx surface as the SDKs' own error classes with
# readable type/code/message and headers, and that the SDKs' retry logic obeys retry-after-ms and
# x-should-retry.
#
#   bash sdk-check/run.sh                # builds the jars, npm ci, runs node --test, stops everything
#   SKIP_BUILD=1 bash sdk-check/run.sh   # reuse the jars from the last build (CI: after ./mvnw verify)
#
# Needs a JDK 17+, Node.js 20+ and npm (the registry, or a warm npm cache). Exits non-zero on any
# failure; the last line says "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIDECAR_JAR=$ROOT/sidecar/target/ratekeeper-sidecar.jar
DEMO_JAR=$ROOT/demo/target/ratekeeper-demo.jar
WORK=$(mktemp -d /tmp/ratekeeper-sdk-check.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "sdk-check: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20+ needed)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"

if [ "${SKIP_BUILD:-0}" = 1 ] && [ -f "$SIDECAR_JAR" ] && [ -f "$DEMO_JAR" ]; then
  echo "sdk-check: using the jars from the last build"
else
  echo "sdk-check: building the sidecar and the stub (./mvnw -q -B -pl demo -am package -DskipTests)"
  ./mvnw -q -B -pl demo -am package -DskipTests || fail "the build failed"
fi

# a copy, so a rebuild in the working tree cannot pull the jars from under the running processes
cp "$SIDECAR_JAR" "$WORK/ratekeeper-sidecar.jar"
cp "$DEMO_JAR" "$WORK/ratekeeper-demo.jar"
SIDECAR_JAR=$WORK/ratekeeper-sidecar.jar
DEMO_JAR=$WORK/ratekeeper-demo.jar

echo "sdk-check: npm ci (sdk-check/package-lock.json)"
(cd sdk-check && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 \
  || { cat "$WORK/npm.log" >&2; fail "npm ci failed"; }

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && ! grep -qw "$p" "$WORK/ports" 2>/dev/null; then
      echo "$p" >>"$WORK/ports"
      echo "$p"
      return
    fi
  done
}
STUB_PORT=$(free_port)
STUB_CONTROL=$(free_port)
PROXY_PORT=$(free_port)
ADMIN_PORT=$(free_port)

java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$DEMO_JAR" dev.ratekeeper.testkit.StubServerMain \
  --port "$STUB_PORT" --control-port "$STUB_CONTROL" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -jar "$SIDECAR_JAR" --policy-file sdk-check/policy.yaml \
  --listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --upstream "anthropic=http://127.0.0.1:$STUB_PORT" --upstream "openai=http://127.0.0.1:$STUB_PORT" \
  --upstream "azure=http://127.0.0.1:$STUB_PORT" \
  >"$WORK/sidecar.log" 2>&1 &
SIDECAR_PID=$!
PIDS+=("$SIDECAR_PID")

# whether GET <path> on 127.0.0.1:<port> answers 200 (bash /dev/tcp: no curl needed)
http_ok() {
  local fd line=""
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&"$fd"
  IFS= read -r -t 2 line <&"$fd" || true
  exec {fd}>&-
  case "$line" in *" 200"*) return 0 ;; *) return 1 ;; esac
}

for _ in $(seq 1 600); do
  if http_ok "$ADMIN_PORT" /readyz 2>/dev/null && http_ok "$STUB_CONTROL" /requests 2>/dev/null; then
    break
  fi
  kill -0 "$SIDECAR_PID" 2>/dev/null || { cat "$WORK/sidecar.log" >&2; fail "the sidecar exited"; }
  sleep 0.05
done
http_ok "$ADMIN_PORT" /readyz 2>/dev/null || { cat "$WORK/sidecar.log" >&2; fail "the sidecar is not ready after 30 s"; }
http_ok "$STUB_CONTROL" /requests 2>/dev/null || { cat "$WORK/stub.log" >&2; fail "the stub did not start"; }
echo "sidecar: http://127.0.0.1:$PROXY_PORT (admin :$ADMIN_PORT), stub :$STUB_PORT;" \
  "@anthropic-ai/sdk $(node -p "require('./sdk-check/node_modules/@anthropic-ai/sdk/package.json').version")," \
  "openai $(node -p "require('./sdk-check/node_modules/openai/package.json').version"), node $(node --version)"

set +e
(cd sdk-check && RK_SIDECAR_URL="http://127.0.0.1:$PROXY_PORT" RK_ADMIN_URL="http://127.0.0.1:$ADMIN_PORT" \
  RK_STUB_CONTROL_URL="http://127.0.0.1:$STUB_CONTROL" \
  node --test --test-concurrency=1 --test-timeout=60000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$WORK/tap.txt" test/*.test.mjs)
status=$?
set -e
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$WORK/tap.txt" 2>/dev/null | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$WORK/tap.txt" 2>/dev/null | tail -1)
passed=${passed:-0}
failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # node --test itself failed (a file did not load, a timeout, ...)
fi
if [ "$failed" -ne 0 ]; then
  echo "--- sidecar log (last 30 lines) ---"
  tail -30 "$WORK/sidecar.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
