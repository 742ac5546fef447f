#!/usr/bin/env bash
# The official-SDK check for Python agents: the real `anthropic` and `openai` Python packages (exact
# versions in sdk-check-python/requirements.txt, unmodified, only base_url pointed at the sidecar and
# the end user named in default_headers) against a sidecar started from sdk-check-python/policy.yaml
# in front of the stub provider. Sync and async clients; normal, streamed and Responses API calls; the
# sidecar's 429s, budgets, fallbacks, cooldowns and end-user keys as the SDKs surface them; the SDKs'
# own retries obeying retry-after-ms and x-should-retry; the README's client set-up and the Python
# examples, run as they are.
#
#   bash sdk-check-python/run.sh                # builds the jars, makes the virtualenv, runs pytest, stops everything
#   SKIP_BUILD=1 bash sdk-check-python/run.sh   # reuse the jars from the last build (CI: after ./mvnw verify)
#
# Needs a JDK 17+ and Python 3.11+ with venv and pip (PyPI, or a warm virtualenv). The virtualenv is
# kept between runs under $RK_PYTHON_VENV_HOME (default ~/.cache/ratekeeper/sdk-check-python), one per
# requirements.txt and Python version. Exits non-zero on any failure; the last line says
# "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIDECAR_JAR=$ROOT/sidecar/target/ratekeeper-sidecar.jar
DEMO_JAR=$ROOT/demo/target/ratekeeper-demo.jar
WORK=$(mktemp -d /tmp/ratekeeper-sdk-check-python.XXXXXX)
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
  echo "sdk-check-python: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON is not installed (Python 3.11+ needed)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "$("$PYTHON" --version 2>&1) is too old: the pinned SDKs need Python 3.11+"

if [ "${SKIP_BUILD:-0}" = 1 ] && [ -f "$SIDECAR_JAR" ] && [ -f "$DEMO_JAR" ]; then
  echo "sdk-check-python: using the jars from the last build"
else
  echo "sdk-check-python: building the sidecar and the stub (./mvnw -q -B -pl demo -am package -DskipTests)"
  ./mvnw -q -B -pl demo -am package -DskipTests || fail "the build failed"
fi

# a copy, so a rebuild in the working tree cannot pull the jars from under the running processes
cp "$SIDECAR_JAR" "$WORK/ratekeeper-sidecar.jar"
cp "$DEMO_JAR" "$WORK/ratekeeper-demo.jar"
SIDECAR_JAR=$WORK/ratekeeper-sidecar.jar
DEMO_JAR=$WORK/ratekeeper-demo.jar

# One virtualenv per (requirements.txt, Python version), made once and marked complete last, so an
# interrupted install is never taken for a good one.
REQUIREMENTS=$ROOT/sdk-check-python/requirements.txt
VENV_KEY=$( { cat "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
VENV=${RK_PYTHON_VENV_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ratekeeper/sdk-check-python}/venv-$VENV_KEY
if [ ! -f "$VENV/.complete" ]; then
  echo "sdk-check-python: making $VENV (pip install -r sdk-check-python/requirements.txt)"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  {
    "$PYTHON" -m venv "$VENV" \
      && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
        -r "$REQUIREMENTS" \
      && "$VENV/bin/python" -m pip check --disable-pip-version-check
  } >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log" >&2; rm -rf "$VENV"; fail "making the virtualenv failed"; }
  touch "$VENV/.complete"
fi

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

# end users' own keys, fresh each run, one per test run (policy.yaml places each kim-* in tier keyed)
echo "# <user-id>: <key>, the layout of the Kubernetes Secret's data" >"$WORK/api-keys"
END_USER_KEYS=""
for user in kim-anthropic-sync kim-anthropic-async kim-openai-sync kim-openai-async; do
  key="rk-user-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  echo "$user: $key" >>"$WORK/api-keys"
  END_USER_KEYS="${END_USER_KEYS:+$END_USER_KEYS,}$user=$key"
done

java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$DEMO_JAR" dev.ratekeeper.testkit.StubServerMain \
  --port "$STUB_PORT" --control-port "$STUB_CONTROL" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
upstreams=()
for name in anthropic openai anthropic-cooldown openai-cooldown azure; do
  upstreams+=(--upstream "$name=http://127.0.0.1:$STUB_PORT")
done
java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -jar "$SIDECAR_JAR" --policy-file sdk-check-python/policy.yaml \
  --listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --api-keys-file "$WORK/api-keys" \
  "${upstreams[@]}" >"$WORK/sidecar.log" 2>&1 &
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
  "$("$VENV/bin/python" -c 'import sys, anthropic, openai; print(f"anthropic {anthropic.__version__}, openai {openai.__version__}, python {sys.version.split()[0]}")')"

set +e
(cd sdk-check-python && RK_SIDECAR_URL="http://127.0.0.1:$PROXY_PORT" RK_ADMIN_URL="http://127.0.0.1:$ADMIN_PORT" \
  RK_STUB_CONTROL_URL="http://127.0.0.1:$STUB_CONTROL" RK_END_USER_KEYS="$END_USER_KEYS" \
  PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pytest -q -rfE --junitxml="$WORK/junit.xml" "$@")
status=$?
set -e
# the counts from pytest's own report: every test that ran, and whether it passed
read -r passed failed < <("$VENV/bin/python" - "$WORK/junit.xml" <<'EOF' 2>/dev/null || echo "0 0"
import sys
import xml.etree.ElementTree as ET

suites = ET.parse(sys.argv[1]).getroot()
suites = [suites] if suites.tag == "testsuite" else list(suites)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad + skipped)  # a skipped check is a failed one: nothing here may skip
EOF
)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # pytest itself failed (a file did not import, no test collected, ...)
fi
if [ "$failed" -ne 0 ]; then
  echo "--- sidecar log (last 30 lines) ---"
  tail -30 "$WORK/sidecar.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
