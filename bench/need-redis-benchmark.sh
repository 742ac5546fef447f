# Sourced by the benchmark scripts: installs redis-tools (for redis-benchmark, the baseline column)
# when it is missing; the benchmarks still run without it and say so in that column.
if ! command -v redis-benchmark >/dev/null 2>&1; then
  echo "installing redis-tools (redis-benchmark)..." >&2
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  $SUDO apt-get install -y -q redis-tools >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q redis-tools >/dev/null; } \
    || echo "could not install redis-tools; the redis-benchmark column will say so" >&2
fi
