#!/usr/bin/env bash
# bench/profile.sh - CPU profile of our server under the bench load (wrk tools/call).
#
# usage: bash bench/profile.sh [deno|bun]     (default deno)
#   deno: V8 sampling profiler through the inspector (bench/cdp_profile.ts)
#   bun:  bun --cpu-prof, written when the server exits
# env: DURATION=10 WARMUP=3 CONNS=50 SERVER_CPU=0 GEN_CPU=1 PORT=8110 LOGDIR=bench/logs
# Writes LOGDIR/ours-<runtime>.<stamp>.cpuprofile and prints bench/cpuprofile_summary.ts.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNTIME=${1:-deno}
DURATION=${DURATION:-10} WARMUP=${WARMUP:-3} CONNS=${CONNS:-50}
SERVER_CPU=${SERVER_CPU:-0} GEN_CPU=${GEN_CPU:-1} PORT=${PORT:-8110} INSPECT=${INSPECT:-9331}
LOGDIR=${LOGDIR:-$ROOT/bench/logs}; mkdir -p "$LOGDIR"
die() { echo "profile: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found: apt-get install -y wrk"
first_file() { for f in "$@"; do [ -x "$f" ] && { echo "$f"; return; }; done; }
DENO=$(first_file "$ROOT/node_modules/deno/deno" "$ROOT/node_modules/@deno/linux-x64-glibc/deno")
BUN=$(first_file "$ROOT/node_modules/bun/bin/bun.exe" "$ROOT/node_modules/@oven/bun-linux-x64/bin/bun")
[ -n "$DENO" ] || die "no deno binary under node_modules"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pmcp-profile.XXXXXX")
SPID=
stop() {
  if [ -n "$SPID" ]; then
    kill -TERM "$SPID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
  fi
}
trap 'stop; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$LOGDIR/ours-$RUNTIME.$STAMP.cpuprofile"
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
cd "$ROOT"
TOKEN=$(timeout 60 "$DENO" run -A bench/server.ts mint --base-url "http://127.0.0.1:$PORT" \
  --password "$PASSWORD" --state "$WORK/state.json" | tail -n 1) || die "minting a token failed"
export TOKEN
SERVE=(serve --port "$PORT" --password "$PASSWORD" --state "$WORK/state.json")
case $RUNTIME in
  deno) taskset -c "$SERVER_CPU" "$DENO" run -A --inspect="127.0.0.1:$INSPECT" bench/server.ts "${SERVE[@]}" \
          >"$WORK/server.log" 2>&1 & SPID=$! ;;
  bun)  [ -n "$BUN" ] || die "no bun binary under node_modules"
        taskset -c "$SERVER_CPU" "$BUN" --cpu-prof --cpu-prof-dir="$WORK" --cpu-prof-name=out.cpuprofile \
          run bench/server.ts "${SERVE[@]}" >"$WORK/server.log" 2>&1 & SPID=$! ;;
  *) die "runtime must be deno or bun" ;;
esac
for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
LUA="$ROOT/../shared/bench/mcp-post.lua"
[ -f "$LUA" ] || LUA=/work/shared/bench/mcp-post.lua
[ -f "$LUA" ] || die "mcp-post.lua of the shared harness not found"
taskset -c "$GEN_CPU" timeout $((WARMUP + 30)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$LUA" "http://127.0.0.1:$PORT" >/dev/null

if [ "$RUNTIME" = deno ]; then
  taskset -c "$GEN_CPU" timeout $((DURATION + 60)) "$DENO" run -A bench/cdp_profile.ts \
    "http://127.0.0.1:$INSPECT" "$DURATION" "$OUT" >"$WORK/cdp.log" 2>&1 & CPID=$!
  for _ in $(seq 1 100); do grep -q profiling "$WORK/cdp.log" 2>/dev/null && break; sleep 0.05; done
fi
taskset -c "$GEN_CPU" timeout $((DURATION + 30)) wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$LUA" \
  "http://127.0.0.1:$PORT" | grep -E "Requests/sec|Non-2xx|Socket errors|^ +99%"
if [ "$RUNTIME" = deno ]; then wait "$CPID" || die "profiler failed: $(cat "$WORK/cdp.log")"; fi
stop
[ "$RUNTIME" = bun ] && { cp "$WORK/out.cpuprofile" "$OUT" || die "bun wrote no profile"; }
echo "profile: $OUT"
"$DENO" run --allow-read bench/cpuprofile_summary.ts "$OUT" "${TOP:-25}"
