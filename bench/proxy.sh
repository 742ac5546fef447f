#!/usr/bin/env bash
# The proxy benchmark: what the sidecar adds to a request, side by side in one run with
#   (1) the stub provider called directly, (2) nginx as a plain reverse proxy to it,
#   (3) the floor: the least a Vert.x proxy does per call (bench/proxy/VertxFloor.java, the sidecar's own
#   Vert.x, options and JVM flags), (4) a sidecar with the in-process store, (5) a sidecar against a real
#   Redis, all on loopback, each in its own process; then the floor and both sidecars again with the C2
#   compiler (the same flags without C1-only), measured after C2_WARMUP_SECONDS at full load. Measures latency at a fixed rate (bench/proxy/FixedRateLoad.java,
# exact percentiles), max throughput (wrk), sidecar RSS under load and time from process start to /readyz 200.
#
#   bash bench/proxy.sh                        # ~4 minutes; installs nginx, wrk, redis-server with apt-get if missing
#   SKIP_BUILD=1 bash bench/proxy.sh           # reuse the jars from the last build
#   SIDECAR_JAVA_OPTS="-XX:+UseSerialGC ..." bash bench/proxy.sh   # try other JVM flags for the measured sidecars
#
# Other knobs (environment): RATE (1000), ROUNDS (3), ROUND_SECONDS (3), WARMUP_SECONDS (2), WRK_SECONDS (5),
# WRK_CONNECTIONS (32), WRK_THREADS (1), C2_WARMUP_SECONDS (20; C2_WARMUP_SECONDS=0 skips the C2 rows),
# STARTS (5 starts per startup variant), JAVA25 (a JDK 25+ for the
# AOT-cache startup row; found under /usr/lib/jvm when unset; JAVA25=none skips it), KEEP_WORK=1 (keep the logs).
#
# Not a test: nothing is asserted; it prints a table. docs/benchmarks.md ("Proxy") keeps the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RATE=${RATE:-1000}
ROUNDS=${ROUNDS:-3}
ROUND_SECONDS=${ROUND_SECONDS:-3}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
WRK_SECONDS=${WRK_SECONDS:-5}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
STARTS=${STARTS:-5}
# The sidecar's JVM: Serial GC and C1 only (the C2 compiler's arenas and code cache alone cost ~60-90 MB of
# RSS), small thread stacks, heap grown on demand. See docs/benchmarks.md for what each flag buys.
TUNED_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss256k -Xms8m -Xmx256m -XX:ReservedCodeCacheSize=16m"
SIDECAR_JAVA_OPTS=${SIDECAR_JAVA_OPTS:-$TUNED_OPTS}
C2_WARMUP_SECONDS=${C2_WARMUP_SECONDS:-20}
# the C2 rows: the sidecar's flags with tiered compilation left on (C1, then C2 for hot code) and the
# default code cache
C2_OPTS="-XX:+UseSerialGC -Xss256k -Xms8m -Xmx256m"
SIDECAR_JAR=$ROOT/sidecar/target/ratekeeper-sidecar.jar
DEMO_JAR=$ROOT/demo/target/ratekeeper-demo.jar
POLICY=$ROOT/bench/proxy/policy.yaml

BEGAN=$EPOCHREALTIME
WORK=$(mktemp -d /tmp/ratekeeper-proxy-bench.XXXXXX)
PIDS=()
OUT=$ROOT/target/bench-proxy-last.txt
mkdir -p "$ROOT/target"   # the root module has no build output of its own

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
elapsed() { local t=${EPOCHREALTIME/./} b=${BEGAN/./}; printf '%5.1fs' "$(( (t - b) / 1000 ))e-3"; }
say() { printf '[%s] %s\n' "$(elapsed)" "$*"; }
die() { echo "bench/proxy.sh: $*" >&2; exit 1; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "logs and configs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -------------------------------------------------------------------------------------------
install_packages() {
  local sudo="" pkg
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install $*"
    sudo=sudo
  fi
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install $* yourself"
  for pkg in "$@"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      say "apt-get update (apt-cache does not know $pkg)"
      $sudo apt-get update -q >/dev/null
      break
    fi
  done
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >"$WORK/apt.log" 2>&1 \
    || { cat "$WORK/apt.log" >&2; die "apt-get install $* failed"; }
}
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  install_packages "${missing[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- build -------------------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" = 1 ] && [ -f "$SIDECAR_JAR" ] && [ -f "$DEMO_JAR" ]; then
  say "using the jars from the last build (SKIP_BUILD=1)"
else
  say "building the sidecar and the stub (./mvnw -q -B -pl demo -am package -DskipTests)"
  ./mvnw -q -B -pl demo -am package -DskipTests
fi

# a copy, so a rebuild in the working tree during the run (or the CDS archive's check of the jar's
# mtime) cannot pull the jar from under the running processes
cp "$SIDECAR_JAR" "$WORK/ratekeeper-sidecar.jar"
cp "$DEMO_JAR" "$WORK/ratekeeper-demo.jar"
SIDECAR_JAR=$WORK/ratekeeper-sidecar.jar
DEMO_JAR=$WORK/ratekeeper-demo.jar
# the floor, compiled once, so the measured process runs no compiler of its own
mkdir -p "$WORK/floor"
javac -nowarn -cp "$SIDECAR_JAR" -d "$WORK/floor" bench/proxy/VertxFloor.java || die "bench/proxy/VertxFloor.java does not compile"

# --- machine -----------------------------------------------------------------------------------------
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
JAVA_VERSION=$(java -version 2>&1 | head -1)
JAVA_MAJOR=$(sed 's/.*version "\(1\.\)\{0,1\}\([0-9]*\).*/\2/' <<<"$JAVA_VERSION")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "machine: $(nproc) cores, $CPU_MODEL; $JAVA_VERSION; load average $LOAD_BEFORE"

# --- helpers -----------------------------------------------------------------------------------------
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

# prints the HTTP status line of GET <path> on 127.0.0.1:<port>, without forking (bash /dev/tcp)
http_status() {
  local fd line=""
  if exec {fd}<>"/dev/tcp/127.0.0.1/$1"; then
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&"$fd"
    IFS= read -r -t 2 line <&"$fd" || true
    exec {fd}>&-
  fi
  echo "$line"
}

# wait_http PORT PATH PID TIMEOUT_S: until the status is 200; fails when PID dies or time runs out
wait_http() {
  local deadline=$(( $(now_ms) + $4 * 1000 ))
  while :; do
    case "$(http_status "$1" "$2" 2>/dev/null)" in *" 200"*) return 0 ;; esac
    kill -0 "$3" 2>/dev/null || return 1
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.005
  done
}

rss_kb() { local k v _; while read -r k v _; do [ "$k" = VmRSS: ] && { echo "$v"; return; }; done <"/proc/$1/status"; echo 0; }

# samples PID's RSS every 0.25 s into FILE (its peak) until killed
sample_rss() {
  local pid=$1 file=$2 peak=0 r
  while kill -0 "$pid" 2>/dev/null; do
    r=$(rss_kb "$pid" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$peak" ] && { peak=$r; echo "$peak" >"$file"; }
    sleep 0.25
  done
}

# CPU ticks (user + system) used so far by the given processes
cpu_ticks() {
  local pid sum=0 stat f
  for pid in "$@"; do
    read -r stat <"/proc/$pid/stat" 2>/dev/null || continue
    read -ra f <<<"${stat##*) }" # fields 3.. of proc(5)'s stat: utime is field 14, stime 15
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

LAST_PID=""
# start_sidecar NAME JAVA "JAVA_OPTS" PROXY_PORT ADMIN_PORT [extra sidecar flags...]; sets LAST_PID, prints nothing
start_sidecar() {
  local name=$1 java=$2 opts=$3 port=$4 admin=$5
  shift 5
  # shellcheck disable=SC2086
  "$java" $opts -jar "$SIDECAR_JAR" --policy-file "$POLICY" --listen "127.0.0.1:$port" \
    --admin-listen "127.0.0.1:$admin" --upstream "anthropic=http://127.0.0.1:$STUB_PORT" "$@" \
    >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# start_floor NAME "JAVA_OPTS" PORT: the Vert.x floor (compiled above) proxying to the stub; sets LAST_PID
start_floor() {
  # shellcheck disable=SC2086
  java $2 -cp "$SIDECAR_JAR:$WORK/floor" VertxFloor "$3" "$STUB_PORT" >>"$WORK/$1.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

wait_floor() {
  local i
  for i in $(seq 1 600); do
    grep -q '^ready' "$WORK/$1.log" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  cat "$WORK/$1.log" >&2
  die "$1 did not start"
}

stop_pid() {
  local keep=() p
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# --- the stub, Redis, nginx --------------------------------------------------------------------------
STUB_PORT=$(free_port)
REDIS_PORT=$(free_port)
NGINX_PORT=$(free_port)
say "starting the stub provider (own JVM, :$STUB_PORT), redis-server (:$REDIS_PORT), nginx (:$NGINX_PORT)"
java -XX:+UseSerialGC -Xms64m -Xmx256m -cp "$DEMO_JAR" dev.ratekeeper.testkit.StubServerMain \
  --port "$STUB_PORT" --instances 2 >"$WORK/stub.log" 2>&1 &
STUB_PID=$!
PIDS+=("$STUB_PID")

REDIS_BIN=$(command -v redis-server || true)
if [ -z "$REDIS_BIN" ]; then
  # the embedded-redis jar (inside the demo jar) ships a real redis-server
  (cd "$WORK" && unzip -q -o "$DEMO_JAR" 'redis-server-*-linux-amd64' 2>/dev/null || jar xf "$DEMO_JAR" redis-server-6.2.6-v5-linux-amd64)
  REDIS_BIN=$(ls "$WORK"/redis-server-*-linux-amd64 | head -1)
  chmod +x "$REDIS_BIN"
fi
"$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --logfile "$WORK/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
REDIS_VERSION=$("$REDIS_BIN" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')

mkdir -p "$WORK/nginx-tmp"
sed -e "s#@WORK@#$WORK#g" -e "s#@NGINX_PORT@#$NGINX_PORT#g" -e "s#@STUB_PORT@#$STUB_PORT#g" \
  bench/proxy/nginx.conf >"$WORK/nginx.conf"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's#.*/##')

for i in $(seq 1 400); do
  grep -q 'stub listening' "$WORK/stub.log" 2>/dev/null && break
  kill -0 "$STUB_PID" 2>/dev/null || { cat "$WORK/stub.log" >&2; die "the stub did not start"; }
  sleep 0.05
done
grep -q 'stub listening' "$WORK/stub.log" || die "the stub did not start in 20 s"
for i in $(seq 1 100); do
  [ -n "$(ss -Htln "sport = :$NGINX_PORT")" ] && [ -n "$(ss -Htln "sport = :$REDIS_PORT")" ] && break
  sleep 0.05
done
kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/nginx-error.log" >&2; die "nginx did not start"; }
kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server did not start"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# --- time to ready -----------------------------------------------------------------------------------
# Each JVM variant is started STARTS times against Redis; ready = ms from just before exec to the first
# 200 on /readyz (polled every ~5 ms without forking).
JAVA25=${JAVA25:-$(ls -d /usr/lib/jvm/*-25*/bin/java /usr/lib/jvm/*-2[4-9]*/bin/java 2>/dev/null | head -1 || true)}
[ "$JAVA25" = none ] && JAVA25=""
START_PROXY=$(free_port)
START_ADMIN=$(free_port)

# train_archive NAME JAVA OPTS: starts a sidecar with OPTS (which make it write a CDS archive or AOT cache
# at exit), sends it a few hundred requests so the request path's classes load, then stops it
train_archive() {
  start_sidecar "$1" "$2" "$3" "$START_PROXY" "$START_ADMIN" --redis "$REDIS_URL"
  local pid=$LAST_PID
  wait_http "$START_ADMIN" /readyz "$pid" 60 || die "the $1 training sidecar did not get ready (see $WORK/$1.log)"
  wrk -t1 -c4 -d1s -s bench/proxy/post.lua "http://127.0.0.1:$START_PROXY/anthropic/v1/messages" >/dev/null
  http_status "$START_ADMIN" /metrics >/dev/null
  stop_pid "$pid"
}

declare -A READY_MS READY_RSS
VARIANTS=()
measure_start() {
  local name=$1 java=$2 opts=$3 i t0 t1 pid ms=()
  local rss=()
  for i in $(seq 1 "$STARTS"); do
    t0=${EPOCHREALTIME/./}
    start_sidecar "start-$name" "$java" "$opts" "$START_PROXY" "$START_ADMIN" --redis "$REDIS_URL"
    pid=$LAST_PID
    wait_http "$START_ADMIN" /readyz "$pid" 60 || die "sidecar ($name) did not get ready (see $WORK/start-$name.log)"
    t1=${EPOCHREALTIME/./}
    ms+=($(( (t1 - t0) / 1000 )))
    rss+=("$(rss_kb "$pid")")
    stop_pid "$pid"
  done
  local sorted
  sorted=$(printf '%s\n' "${ms[@]}" | sort -n | tr '\n' ' ')
  READY_MS[$name]="$sorted"
  READY_RSS[$name]=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
  VARIANTS+=("$name")
  say "  $name: ready after ${sorted}ms (RSS at ready $(( ${READY_RSS[$name]} / 1024 )) MiB)"
}

say "time from process start to /readyz 200, $STARTS starts each (sidecar on Redis):"
CDS_ARCHIVE=$WORK/sidecar.jsa
measure_start "jdk$JAVA_MAJOR-defaults" java ""
measure_start "jdk$JAVA_MAJOR-tuned" java "$SIDECAR_JAVA_OPTS"
train_archive "cds-training" java "$SIDECAR_JAVA_OPTS -XX:ArchiveClassesAtExit=$CDS_ARCHIVE"
if [ -f "$CDS_ARCHIVE" ]; then
  measure_start "jdk$JAVA_MAJOR-tuned+appcds" java "$SIDECAR_JAVA_OPTS -XX:SharedArchiveFile=$CDS_ARCHIVE"
  MEASURED_OPTS="$SIDECAR_JAVA_OPTS -XX:SharedArchiveFile=$CDS_ARCHIVE"
else
  say "  no CDS archive was written (see $WORK/cds-training.log); measuring without it"
  MEASURED_OPTS=$SIDECAR_JAVA_OPTS
fi
# the archive the sidecar image ships (images/sidecar.Dockerfile): written by the sidecar's own training
# run (--exit-when-ready, in-process store, the image's training policy), no traffic from outside
IMAGE_ARCHIVE=$WORK/image.jsa
# shellcheck disable=SC2086
java $SIDECAR_JAVA_OPTS -XX:ArchiveClassesAtExit="$IMAGE_ARCHIVE" -jar "$SIDECAR_JAR" \
  --policy-file images/sidecar-training-policy.yaml --exit-when-ready \
  --listen "127.0.0.1:$START_PROXY" --admin-listen "127.0.0.1:$START_ADMIN" >"$WORK/image-training.log" 2>&1 \
  || die "the image's training run failed (see $WORK/image-training.log)"
if [ -f "$IMAGE_ARCHIVE" ]; then
  measure_start "jdk$JAVA_MAJOR-tuned+image-archive" java "$SIDECAR_JAVA_OPTS -XX:SharedArchiveFile=$IMAGE_ARCHIVE"
else
  say "  the image's training run wrote no archive (see $WORK/image-training.log)"
fi
if [ -n "$JAVA25" ] && [ -x "$JAVA25" ]; then
  AOT_CACHE=$WORK/sidecar.aot
  train_archive "aot-training" "$JAVA25" "$SIDECAR_JAVA_OPTS -XX:AOTCacheOutput=$AOT_CACHE"
  if [ -f "$AOT_CACHE" ]; then
    J25_VERSION=$("$JAVA25" -version 2>&1 | head -1 | sed 's/.*version "\([^"]*\)".*/\1/')
    measure_start "jdk${J25_VERSION%%.*}-tuned+aot-cache" "$JAVA25" "$SIDECAR_JAVA_OPTS -XX:AOTCache=$AOT_CACHE"
  else
    say "  no AOT cache was written (see $WORK/aot-training.log); skipping $JAVA25"
  fi
fi

# --- the measured sidecars ---------------------------------------------------------------------------
SC_MEM_PORT=$(free_port)
SC_MEM_ADMIN=$(free_port)
SC_REDIS_PORT=$(free_port)
SC_REDIS_ADMIN=$(free_port)
say "starting the measured sidecars: java $MEASURED_OPTS"
start_sidecar sidecar-inprocess java "$MEASURED_OPTS" "$SC_MEM_PORT" "$SC_MEM_ADMIN"
SC_MEM_PID=$LAST_PID
start_sidecar sidecar-redis java "$MEASURED_OPTS" "$SC_REDIS_PORT" "$SC_REDIS_ADMIN" --redis "$REDIS_URL"
SC_REDIS_PID=$LAST_PID
FLOOR_PORT=$(free_port)
start_floor vertx-floor "$SIDECAR_JAVA_OPTS" "$FLOOR_PORT"
FLOOR_PID=$LAST_PID
wait_floor vertx-floor "$FLOOR_PID"
wait_http "$SC_MEM_ADMIN" /readyz "$SC_MEM_PID" 60 || die "in-process sidecar not ready (see $WORK/sidecar-inprocess.log)"
wait_http "$SC_REDIS_ADMIN" /readyz "$SC_REDIS_PID" 60 || die "Redis sidecar not ready (see $WORK/sidecar-redis.log)"
RSS_READY_MEM=$(rss_kb "$SC_MEM_PID")
RSS_READY_REDIS=$(rss_kb "$SC_REDIS_PID")

NAMES=(direct nginx vertx-floor sidecar-inprocess sidecar-redis)
declare -A URL=(
  [direct]="http://127.0.0.1:$STUB_PORT/v1/messages"
  [nginx]="http://127.0.0.1:$NGINX_PORT/anthropic/v1/messages"
  [vertx-floor]="http://127.0.0.1:$FLOOR_PORT/v1/messages"
  [sidecar-inprocess]="http://127.0.0.1:$SC_MEM_PORT/anthropic/v1/messages"
  [sidecar-redis]="http://127.0.0.1:$SC_REDIS_PORT/anthropic/v1/messages"
)
for n in "${NAMES[@]}"; do
  code=$(curl -s -o "$WORK/check-$n.json" -w '%{http_code}' -X POST "${URL[$n]}" -H 'content-type: application/json' \
    -H 'X-Ratekeeper-User: bench-check' \
    -d '{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}')
  [ "$code" = 200 ] || { cat "$WORK/check-$n.json" >&2; die "$n answered $code to a check request"; }
done

# --- latency at a fixed rate -------------------------------------------------------------------------
say "latency at a fixed $RATE req/s: ${WARMUP_SECONDS}s warm-up each, then $ROUNDS interleaved rounds of ${ROUND_SECONDS}s per path"
sample_rss "$SC_MEM_PID" "$WORK/rss-fixed-inprocess" &
S1=$!
sample_rss "$SC_REDIS_PID" "$WORK/rss-fixed-redis" &
S2=$!
PIDS+=("$S1" "$S2")
targets=()
for n in "${NAMES[@]}"; do targets+=("$n=${URL[$n]}"); done
java -XX:+UseSerialGC -Xmx256m bench/proxy/FixedRateLoad.java --rate "$RATE" --rounds "$ROUNDS" \
  --round-seconds "$ROUND_SECONDS" --warmup-seconds "$WARMUP_SECONDS" --connections 8 "${targets[@]}" \
  | tee "$WORK/fixed.txt"
stop_pid "$S1"
stop_pid "$S2"
declare -A P50 P99 SVC50 SVC99 FIXED_ERR
for n in "${NAMES[@]}"; do
  line=$(grep "^RESULT name=$n " "$WORK/fixed.txt") || die "no fixed-rate result for $n"
  P50[$n]=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")
  P99[$n]=$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")
  SVC50[$n]=$(sed -n 's/.* svc_p50_us=\([0-9]*\).*/\1/p' <<<"$line")
  SVC99[$n]=$(sed -n 's/.* svc_p99_us=\([0-9]*\).*/\1/p' <<<"$line")
  FIXED_ERR[$n]=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
done

# --- max throughput ----------------------------------------------------------------------------------
say "max throughput: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_SECONDS}s --latency (after a 1 s warm-up) per path"
declare -A RPS WRK50 WRK99 WRK_ERR CPU_US
declare -A CPU_PIDS=(
  [direct]="$STUB_PID"
  [nginx]="$(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
  [vertx-floor]="$FLOOR_PID"
  [sidecar-inprocess]="$SC_MEM_PID"
  [sidecar-redis]="$SC_REDIS_PID"
)
# measure_max NAME WARM_SECONDS [RSS_FILE]: wrk at full load on URL[NAME] after WARM_SECONDS of it; CPU per
# request of CPU_PIDS[NAME] (and of Redis for the Redis sidecars), RSS peak of the process into RSS_FILE
measure_max() {
  local n=$1 warm=$2 rss_file=${3:-} path sampler="" cpu_before cpu_after redis_before redis_after line reqs
  path=${URL[$n]#http://*/}
  wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${warm}s" -s bench/proxy/post.lua "${URL[$n]}" -- "/$path" >/dev/null
  if [ -n "$rss_file" ]; then
    sample_rss "${CPU_PIDS[$n]}" "$rss_file" &
    sampler=$!
    PIDS+=("$sampler")
  fi
  # shellcheck disable=SC2086
  cpu_before=$(cpu_ticks ${CPU_PIDS[$n]})
  redis_before=$(cpu_ticks "$REDIS_PID")
  case $n in sidecar-redis*) redis-cli -p "$REDIS_PORT" config resetstat >/dev/null ;; esac
  wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" --latency -s bench/proxy/post.lua "${URL[$n]}" -- "/$path" \
    >"$WORK/wrk-$n.txt"
  # shellcheck disable=SC2086
  cpu_after=$(cpu_ticks ${CPU_PIDS[$n]})
  redis_after=$(cpu_ticks "$REDIS_PID")
  [ -n "$sampler" ] && stop_pid "$sampler"
  line=$(grep '^WRK_RESULT' "$WORK/wrk-$n.txt") || { cat "$WORK/wrk-$n.txt" >&2; die "wrk failed for $n"; }
  RPS[$n]=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line")
  WRK50[$n]=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")
  WRK99[$n]=$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")
  WRK_ERR[$n]=$(sed -n 's/.* errors=\([0-9]*\) non2xx=\([0-9]*\).*/\1+\2/p' <<<"$line")
  reqs=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line")
  CPU_US[$n]=$(( (cpu_after - cpu_before) * 1000000 / CLK_TCK / (reqs > 0 ? reqs : 1) ))
  case $n in sidecar-redis*) REDIS_CPU[$n]=$(( (redis_after - redis_before) * 1000000 / CLK_TCK / (reqs > 0 ? reqs : 1) )) ;; esac
  if [ "$n" = sidecar-redis ]; then
    REDIS_CPU_US=${REDIS_CPU[$n]}
    # what Redis itself counted for the run (INFO commandstats): script calls and the commands they ran,
    # per request, and the microseconds inside EVALSHA per request
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' >"$WORK/commandstats.txt"
    REDIS_STATS=$(awk -F'[:,=]' -v n="$reqs" '/^cmdstat_/ {
        name = substr($1, 9); calls[name] = $3; usec[name] = $5; total += $3 }
      END {
        if (n < 1) n = 1
        printf "EVALSHA %.2f per request, %.0f us inside Redis per request (%.0f decisions/s per Redis core); ", calls["evalsha"] / n, usec["evalsha"] / n, (usec["evalsha"] > 0 ? 1e6 * n / usec["evalsha"] : 0)
        printf "commands per request:"
        for (c in calls) if (c != "evalsha" && calls[c] / n >= 0.05) printf " %s %.2f", c, calls[c] / n
      }' "$WORK/commandstats.txt")
  fi
  say "  $n: ${RPS[$n]} req/s (p50 ${WRK50[$n]} us, p99 ${WRK99[$n]} us, errors+non-2xx ${WRK_ERR[$n]}," \
    "${CPU_US[$n]} us CPU per request in ${n/direct/the stub})"
}
declare -A REDIS_CPU
declare -A RSS_FILE=([sidecar-inprocess]="$WORK/rss-max-inprocess" [sidecar-redis]="$WORK/rss-max-redis"
  [vertx-floor]="$WORK/rss-max-floor")
for n in "${NAMES[@]}"; do
  measure_max "$n" 1 "${RSS_FILE[$n]:-}"
done
stop_pid "$FLOOR_PID"

# --- the same with C2 ---------------------------------------------------------------------------------
# The C1-only flags above are what the sidecar image ships (memory per pod); these rows show what the same
# code does once C2 has compiled it (the shared gateway's JVM, docs/images.md), after a long warm-up
C2_NAMES=()
if [ "$C2_WARMUP_SECONDS" -gt 0 ]; then
  stop_pid "$SC_MEM_PID"
  stop_pid "$SC_REDIS_PID"
  say "the floor and both sidecars with C2 (java $C2_OPTS), each after ${C2_WARMUP_SECONDS}s at full load:"
  C2_FLOOR_PORT=$(free_port)
  start_floor vertx-floor-c2 "$C2_OPTS" "$C2_FLOOR_PORT"
  CPU_PIDS[vertx-floor-c2]=$LAST_PID
  URL[vertx-floor-c2]="http://127.0.0.1:$C2_FLOOR_PORT/v1/messages"
  wait_floor vertx-floor-c2 "$LAST_PID"
  measure_max vertx-floor-c2 "$C2_WARMUP_SECONDS" "$WORK/rss-max-vertx-floor-c2"
  stop_pid "${CPU_PIDS[vertx-floor-c2]}"
  for store in inprocess redis; do
    port=$(free_port)
    admin=$(free_port)
    extra=()
    [ "$store" = redis ] && extra=(--redis "$REDIS_URL")
    start_sidecar "sidecar-$store-c2" java "$C2_OPTS" "$port" "$admin" "${extra[@]}"
    CPU_PIDS[sidecar-$store-c2]=$LAST_PID
    URL[sidecar-$store-c2]="http://127.0.0.1:$port/anthropic/v1/messages"
    wait_http "$admin" /readyz "$LAST_PID" 60 || die "sidecar-$store-c2 not ready (see $WORK/sidecar-$store-c2.log)"
    measure_max "sidecar-$store-c2" "$C2_WARMUP_SECONDS" "$WORK/rss-max-$store-c2"
    stop_pid "${CPU_PIDS[sidecar-$store-c2]}"
  done
  C2_NAMES=(vertx-floor-c2 sidecar-inprocess-c2 sidecar-redis-c2)
fi
REDIS_KEYS=$(redis-cli -p "$REDIS_PORT" dbsize 2>/dev/null || echo "?")
REDIS_MEM=$(redis-cli -p "$REDIS_PORT" info memory 2>/dev/null | sed -n 's/^used_memory_human:\(.*\)\r*$/\1/p' | tr -d '\r' || echo "?")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- table -------------------------------------------------------------------------------------------
mib() { [ -f "$1" ] && echo $(( $(cat "$1") / 1024 )) || echo "?"; }
ms3() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
added() { local d=$(( $1 - $2 )); if [ $d -lt 0 ]; then printf -- '-%s' "$(ms3 $((-d)))"; else ms3 $d; fi; }
{
  echo
  echo "Proxy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores ($CPU_MODEL), shared by every process below"
  echo "load average before $LOAD_BEFORE, after $LOAD_AFTER; $JAVA_VERSION; nginx $NGINX_VERSION; redis-server $REDIS_VERSION; $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "sidecar JVM: $MEASURED_OPTS" | sed "s#$WORK/##g"
  echo
  printf '%-18s %10s %10s %10s %10s %10s %10s %12s %16s %10s\n' "path" "p50 ms" "p99 ms" "+p50 ms" "+p99 ms" \
    "svc p50" "svc p99" "max req/s" "wrk p50/p99 ms" "CPU us/req"
  for n in "${NAMES[@]}"; do
    printf '%-18s %10s %10s %10s %10s %10s %10s %12s %16s %10s\n' "$n" "$(ms3 "${P50[$n]}")" "$(ms3 "${P99[$n]}")" \
      "$(added "${P50[$n]}" "${P50[direct]}")" "$(added "${P99[$n]}" "${P99[direct]}")" \
      "$(ms3 "${SVC50[$n]}")" "$(ms3 "${SVC99[$n]}")" "${RPS[$n]}" "$(ms3 "${WRK50[$n]}")/$(ms3 "${WRK99[$n]}")" \
      "${CPU_US[$n]}"
  done
  echo "(p50/p99: at a fixed $RATE req/s, from each request's scheduled send time, $((ROUNDS * ROUND_SECONDS * RATE)) requests per path;"
  echo " +: minus direct; svc: from the actual write; max req/s: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_SECONDS}s;"
  echo " CPU us/req: user+system CPU of the proxy process(es) alone during the wrk run (direct: the stub's) per request;"
  echo " errors at fixed rate: $(for n in "${NAMES[@]}"; do printf '%s %s  ' "$n" "${FIXED_ERR[$n]}"; done))"
  echo
  printf '%-26s %12s %16s %16s\n' "sidecar RSS (MiB)" "at ready" "peak @ $RATE/s" "peak @ max"
  printf '%-26s %12s %16s %16s\n' "in-process store" "$((RSS_READY_MEM / 1024))" "$(mib "$WORK/rss-fixed-inprocess")" \
    "$(mib "$WORK/rss-max-inprocess")"
  printf '%-26s %12s %16s %16s\n' "Redis store" "$((RSS_READY_REDIS / 1024))" "$(mib "$WORK/rss-fixed-redis")" \
    "$(mib "$WORK/rss-max-redis")"
  printf '%-26s %12s %16s %16s\n' "(the Vert.x floor)" "" "" "$(mib "$WORK/rss-max-floor")"
  echo "Redis: ${REDIS_CPU_US:-?} us CPU per request of the Redis sidecar's wrk run (admit + reconcile);" \
    "after the run $REDIS_KEYS keys, used_memory $REDIS_MEM"
  echo "Redis commandstats of that run: ${REDIS_STATS:-?}"
  if [ ${#C2_NAMES[@]} -gt 0 ]; then
    echo
    echo "with C2 (java $C2_OPTS), after ${C2_WARMUP_SECONDS}s at full load:"
    printf '%-22s %12s %16s %10s %14s %14s\n' "path" "max req/s" "wrk p50/p99 ms" "CPU us/req" "Redis us/req" "RSS peak MiB"
    for n in "${C2_NAMES[@]}"; do
      printf '%-22s %12s %16s %10s %14s %14s\n' "$n" "${RPS[$n]}" "$(ms3 "${WRK50[$n]}")/$(ms3 "${WRK99[$n]}")" \
        "${CPU_US[$n]}" "${REDIS_CPU[$n]:--}" "$(mib "$WORK/rss-max-${n#sidecar-}")"
    done
  fi
  echo
  printf '%-30s %-24s %10s\n' "start to /readyz 200" "ms, $STARTS starts, sorted" "RSS MiB"
  for v in "${VARIANTS[@]}"; do
    printf '%-30s %-24s %10s\n' "$v" "${READY_MS[$v]}" "$(( ${READY_RSS[$v]} / 1024 ))"
  done
  echo
  best_ready=$(for v in "${VARIANTS[@]}"; do echo "${READY_MS[$v]}" | awk '{print $(int((NF+1)/2))}'; done | sort -n | head -1)
  nginx_added=$(( ${P50[nginx]} - ${P50[direct]} ))
  echo "targets (issue 13): CPU/req <= 4 x nginx's (${CPU_US[nginx]} us): in-process ${CPU_US[sidecar-inprocess]}, Redis ${CPU_US[sidecar-redis]}" \
    "(the Vert.x floor under them ${CPU_US[vertx-floor]}; with C2: ${CPU_US[sidecar-inprocess-c2]:-?}, ${CPU_US[sidecar-redis-c2]:-?}, floor ${CPU_US[vertx-floor-c2]:-?});" \
    "Redis CPU/req <= 40 us: ${REDIS_CPU_US:-?};"
  echo "         added p50 <= 1.5 x nginx's + 0.1 ms ($(ms3 $(( (nginx_added > 0 ? nginx_added : 0) * 3 / 2 + 100 )))): in-process $(added "${P50[sidecar-inprocess]}" "${P50[direct]}"), Redis $(added "${P50[sidecar-redis]}" "${P50[direct]}");" \
    "added p99 <= 1.000 ms: in-process $(added "${P99[sidecar-inprocess]}" "${P99[direct]}"), Redis $(added "${P99[sidecar-redis]}" "${P99[direct]}");"
  echo "         req/s >= 10000 in-process: ${RPS[sidecar-inprocess]} (C2 ${RPS[sidecar-inprocess-c2]:-?}), >= 6000 Redis: ${RPS[sidecar-redis]} (C2 ${RPS[sidecar-redis-c2]:-?});" \
    "RSS <= 96 MiB: Redis peak $(mib "$WORK/rss-max-redis"), in-process peak $(mib "$WORK/rss-max-inprocess"); ready <= 500 ms: best median ${best_ready} ms"
} | tee "$OUT"
say "done (table also in ${OUT#"$ROOT"/})"
