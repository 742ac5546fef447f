#!/usr/bin/env bash
# What the limiter's scripts cost Redis per request, by batch size: the admit.lua + reconcile.lua calls a
# real sidecar makes for one request of bench/proxy/policy.yaml (14 counters), captured with MONITOR, then
# replayed for many users as batches of 1, 8 and 32 requests per call (what ScriptBatcher sends when calls
# wait), side by side in the same run with the floor: EVALSHA of a script that only returns, with the same
# words as a batch of one. Two measures per row:
#   - instructions redis-server executes per request, under valgrind's callgrind: exact and the same on any
#     machine and under any load, so two versions of the scripts compare without noise;
#   - CPU time of an idle redis-server per request (INFO's used_cpu_*, ~4,000 requests), and the
#     decisions per second one core of Redis carries at that cost;
#   - the commands the scripts run per request (redis.call and redis.pcall; INFO commandstats).
#
#   bash bench/redis-scripts.sh              # ~1-2 minutes; installs valgrind, redis-server, python3 with apt-get if missing
#   SKIP_BUILD=1 bash bench/redis-scripts.sh # reuse the jars from the last build
#   N=8000 VG_N=800 bash bench/redis-scripts.sh
#   BASELINE_JAR=/path/to/an/older/ratekeeper-sidecar.jar bash bench/redis-scripts.sh
#                                            # adds a row: that sidecar's own calls, replayed one by one as captured
#   KEEP=1 bash bench/redis-scripts.sh       # keeps the work directory: one callgrind dump per row, in row order,
#                                            # for callgrind_annotate (it prints where)
#
# Not a test: nothing is asserted; it prints a table. docs/benchmarks.md ("Redis per request") keeps the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-4000}
VG_N=${VG_N:-400}
BATCHES=${BATCHES:-"1 8 32"}
SIDECAR_JAR=$ROOT/sidecar/target/ratekeeper-sidecar.jar
DEMO_JAR=$ROOT/demo/target/ratekeeper-demo.jar
BEGAN=$EPOCHREALTIME
WORK=$(mktemp -d /tmp/ratekeeper-redis-bench.XXXXXX)
PIDS=()

elapsed() { local t=${EPOCHREALTIME/./} b=${BEGAN/./}; printf '%5.1fs' "$(( (t - b) / 1000 ))e-3"; }
say() { printf '[%s] %s\n' "$(elapsed)" "$*"; }
die() { echo "bench/redis-scripts.sh: $*" >&2; exit 1; }
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK (callgrind.<pid>.<n>: one dump per row)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

missing=()
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server redis-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${missing[*]} yourself"
  say "apt-get install ${missing[*]}"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >"$WORK/apt.log" 2>&1 \
    || { cat "$WORK/apt.log" >&2; die "apt-get install failed"; }
fi

if [ "${SKIP_BUILD:-0}" = 1 ] && [ -f "$SIDECAR_JAR" ] && [ -f "$DEMO_JAR" ]; then
  say "using the jars from the last build (SKIP_BUILD=1)"
else
  say "building the sidecar and the stub (./mvnw -q -B -pl demo -am package -DskipTests)"
  ./mvnw -q -B -pl demo -am package -DskipTests
fi
cp "$SIDECAR_JAR" "$WORK/sidecar.jar"
unzip -q -o "$WORK/sidecar.jar" 'lua/*' -d "$WORK"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
VG_PORT=$(free_port)
STUB_PORT=$(free_port)
PROXY_PORT=$(free_port)
ADMIN_PORT=$(free_port)

say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $(redis-server --version | cut -d' ' -f1-3); load average $(cut -d' ' -f1-3 /proc/loadavg)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" \
  redis-server --port "$VG_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/valgrind.log" 2>&1 &
VG_PID=$!
PIDS+=("$VG_PID")
java -XX:+UseSerialGC -cp "$DEMO_JAR" dev.ratekeeper.testkit.StubServerMain --port "$STUB_PORT" --instances 1 \
  >"$WORK/stub.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && grep -q 'stub listening' "$WORK/stub.log" && break; sleep 0.1; done
send() {
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$PROXY_PORT/anthropic/v1/messages" \
    -H 'content-type: application/json' -H "x-ratekeeper-user: $1" \
    -d '{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"Say hello in five words."}]}'
}
# capture JAR FILE: the script calls the sidecar in JAR makes for one request, as MONITOR shows them
capture() {
  local pid monitor
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  java -XX:TieredStopAtLevel=1 -jar "$1" --policy-file bench/proxy/policy.yaml \
    --listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --upstream "anthropic=http://127.0.0.1:$STUB_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" >"$WORK/sidecar.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  send warm-up # the first call of a sidecar learns the statistics period
  timeout 5 redis-cli -p "$REDIS_PORT" monitor >"$2" &
  monitor=$!
  sleep 0.5
  send bench-1
  sleep 1
  kill "$monitor" 2>/dev/null || true
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  [ "$(grep -i '"evalsha"' "$2" | grep -c ':r:')" -ge 2 ] || die "did not capture the admit and reconcile calls of $1"
}
say "capturing the calls a sidecar makes for one request (MONITOR)"
capture "$WORK/sidecar.jar" "$WORK/monitor.txt"
if [ -n "${BASELINE_JAR:-}" ]; then
  say "capturing the calls of the baseline sidecar $BASELINE_JAR"
  cp "$BASELINE_JAR" "$WORK/baseline.jar"
  unzip -q -o "$WORK/baseline.jar" 'lua/*' -d "$WORK/baseline"
  capture "$WORK/baseline.jar" "$WORK/baseline-monitor.txt"
fi

say "replaying: $N requests per row on redis-server, $VG_N under callgrind (each row's users and ids are new)"
python3 - "$WORK" "$REDIS_PORT" "$VG_PORT" "$VG_PID" "$N" "$VG_N" "$BATCHES" "${BASELINE_JAR:-}" <<'EOF'
import glob, hashlib, os, shlex, subprocess, sys, time

work, port, vg_port, vg_pid, n, vg_n, batches, baseline = sys.argv[1:]
n, vg_n, batches = int(n), int(vg_n), [int(b) for b in batches.split()]

def cli(p, *args):
    return subprocess.run(['redis-cli', '-p', p, *args], capture_output=True, text=True, check=True).stdout

def captured(file, lua):
    """the first admit.lua call MONITOR saw and the first reconcile.lua call after it, known by their SHA-1
    (another script's call, or the warm-up request's late reconcile, may come first)"""
    shas = {hashlib.sha1(text.encode()).hexdigest(): name for name, text in sources(lua).items()}
    calls = {}
    for line in open(file):
        if '"evalsha"' not in line.lower():
            continue
        words = shlex.split(line.split('] ', 1)[1])
        name = shas.get(words[1])
        if name == 'admit' and 'admit' not in calls or name == 'reconcile' and 'admit' in calls:
            calls.setdefault(name, words)
    if len(calls) < 2:
        sys.exit(f'{file}: no admit.lua call followed by a reconcile.lua call')
    return calls['admit'], calls['reconcile']

def sources(lua):
    return {name: open(f'{lua}/common.lua').read() + '\n' + open(f'{lua}/{name}.lua').read()
            for name in ('admit', 'reconcile')}

admit, reconcile = captured(f'{work}/monitor.txt', f'{work}/lua')

# a captured call: EVALSHA sha numkeys KEYS... ARGV...; split into the batch head and the request's own words
# (admit.lua: 1 head key, 7 head args; reconcile.lua: 4 and 6; then the request count; see the scripts' headers)
def split(words, head_keys, head_args):
    nk = int(words[2])
    keys, args = words[3:3 + nk], words[3 + nk:]
    return keys[:head_keys], keys[head_keys:], args[:head_args], args[head_args + 1:]

A, R = split(admit, 1, 7), split(reconcile, 4, 6)
request_id = next(w for w in A[1] if ':r:' in w).split(':r:')[1]
source = sources(f'{work}/lua')

def resp(words):
    out = [b'*%d\r\n' % len(words)]
    for w in words:
        b = w.encode()
        out.append(b'$%d\r\n%s\r\n' % (len(b), b))
    return b''.join(out)

def batch(sha, parts, ids, tag):
    head_keys, own_keys, head_args, own_args = parts
    keys, args = list(head_keys), list(head_args) + [str(len(ids))]
    for i in ids:
        user = 'bench-%d' % (i % 1000)
        sub = lambda w: w.replace(request_id, f'{tag}-{i}').replace('bench-1', user)
        keys += [sub(w) for w in own_keys]
        args += [sub(w) for w in own_args]
    return resp(['EVALSHA', sha, str(len(keys))] + keys + args)

def as_captured(p, calls, lua, count):
    """count requests, each the captured calls word for word (another request id and user): any version's format"""
    tag = 'c%d' % time.time_ns()
    shas = [cli(p, 'SCRIPT', 'LOAD', sources(lua)[name]).strip() for name in ('admit', 'reconcile')]
    rid = next(w for w in calls[0] if ':r:' in w).split(':r:')[1]
    out = []
    for i in range(count):
        user = 'bench-%d' % (i % 1000)
        for sha, words in zip(shas, calls):
            out.append(resp(['EVALSHA', sha] + [w.replace(rid, f'{tag}-{i}').replace('bench-1', user) for w in words[2:]]))
    return b''.join(out)

def workload(p, size, count, floor=False, baseline=False):
    if baseline:
        return as_captured(p, captured(f'{work}/baseline-monitor.txt', f'{work}/baseline/lua'), f'{work}/baseline/lua',
                           count)
    tag = 'b%d' % time.time_ns()
    if floor:
        sha = cli(p, 'SCRIPT', 'LOAD', 'return {{1}}').strip()
        return b''.join(batch(sha, A, [i], tag) for i in range(count))
    sa = cli(p, 'SCRIPT', 'LOAD', source['admit']).strip()
    sr = cli(p, 'SCRIPT', 'LOAD', source['reconcile']).strip()
    out = []
    for s in range(0, count, size):
        ids = range(s, min(count, s + size))
        out.append(batch(sa, A, ids, tag))
        out.append(batch(sr, R, ids, tag))
    return b''.join(out)

def pipe(p, data):
    reply = subprocess.run(['redis-cli', '-p', p, '--pipe'], input=data, capture_output=True, check=True).stdout
    if b'errors: 0' not in reply:
        sys.exit('replay failed: ' + reply.decode())

def inner_calls(p):
    """commands run inside scripts since the last CONFIG RESETSTAT (INFO commandstats: every command but the
    script calls themselves and this benchmark's own INFO/CONFIG)"""
    total = 0
    for line in cli(p, 'INFO', 'commandstats').splitlines():
        if line.startswith('cmdstat_'):
            name, fields = line[len('cmdstat_'):].split(':', 1)
            if name.split('|')[0] not in ('evalsha', 'eval', 'script', 'info', 'config', 'ping'):
                total += int(dict(f.split('=') for f in fields.split(','))['calls'])
    return total

def cpu(p):
    info = dict(l.split(':', 1) for l in cli(p, 'INFO', 'cpu').splitlines() if ':' in l)
    return float(info['used_cpu_user']) + float(info['used_cpu_sys'])

def instructions(data):
    subprocess.run(['callgrind_control', '-z', vg_pid], capture_output=True, check=True)
    pipe(vg_port, data)
    before = set(glob.glob(f'{work}/callgrind.*.*'))
    subprocess.run(['callgrind_control', '-d', vg_pid], capture_output=True, check=True)
    for _ in range(100):
        dumps = set(glob.glob(f'{work}/callgrind.*.*')) - before
        if dumps:
            break
        time.sleep(0.1)
    for line in open(dumps.pop()):
        if line.startswith(('summary:', 'totals:')):
            return int(line.split()[1])
    raise SystemExit('no callgrind summary')

for _ in range(50):
    try:
        cli(vg_port, 'PING')
        break
    except subprocess.CalledProcessError:
        time.sleep(0.2)

rows = [('floor: EVALSHA "return {{1}}", same words', 1, True, False)]
if baseline:
    rows.append(('baseline jar, its own calls one by one', 1, False, True))
rows += [(f'admit + reconcile, batches of {b}', b, False, False) for b in batches]
print()
print('%-45s %14s %14s %16s %14s' % ('per request (14 counters)', 'instructions', 'Redis CPU us', 'requests/s/core',
                                     'redis.call'))
for name, size, floor, base in rows:
    pipe(port, workload(port, size, 200, floor, base))  # warm: scripts loaded, keys of the first users exist
    data = workload(port, size, n, floor, base)
    c0 = cpu(port)
    cli(port, 'CONFIG', 'RESETSTAT')
    pipe(port, data)
    us = (cpu(port) - c0) * 1e6 / n
    calls = inner_calls(port) / n
    ir = instructions(workload(vg_port, size, vg_n, floor, base)) / vg_n
    print('%-45s %13.0fk %14.1f %16.0f %14.1f' % (name, ir / 1000, us, 1e6 / us if us else 0, calls))
print()
print('(instructions: callgrind, %d requests per row; CPU: used_cpu_user+sys of an idle redis-server over %d requests;' % (vg_n, n))
print(' requests/s/core: 1e6 / CPU us; redis.call: commands the scripts ran per request, INFO commandstats;')
print(' each request is one admit.lua and one reconcile.lua call, or its share of a batch)')
EOF
say "done"
