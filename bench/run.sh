#!/usr/bin/env bash
# bench/run.sh - every figure of the performance table in one run, with its baselines:
#   load   our /mcp tools/call under wrk against the raw runtime ceilings, the limits (the least
#          an authenticated tools/call can cost on the raw runtime) and the SDK 1.x peers
#   cold   spawn to first correct authenticated call, ours against the SDK 1.x peer, same runtime
#          (plus what importing each part costs in a fresh process: IMPORT_MODULES)
#   store  the JSON file store: code exchanges per second (8 in flight), start-up and peak RSS
#          at 10, 10,000 and 100,000 grants
#   alloc  JavaScript heap bytes one call allocates (Deno, bench/allocation.ts)
#   gateway  what the gateway adds to a tools/call of server-everything's echo, against the
#          SDK client calling it over its own stdio (1 and 50 in flight; p50, p99)
#
# usage: bash bench/run.sh            (or: deno task bench)
#
# env knobs (defaults):
#   PARTS="load cold store gateway alloc"                        which parts, in this order
#   SERVERS="ceiling-deno limit-deno peer-deno-sdk ours-deno ours-bun peer-bun-sdk limit-bun ceiling-bun"
#            load: which servers, in this order, each round; also known: ours-deno-nla (ours,
#            deno run --unstable-no-legacy-abort), and the experiments of bench/variants.ts:
#            var-{endpoint,parsed,pooled,json}-{deno,bun}
#   ROUNDS=3 DURATION=10 WARMUP=3 CONNS=50 CHECK=1           load: passed to the shared bench.sh
#   COLD_ROUNDS=10                                           cold: rounds (ours and peer alternate)
#   IMPORT_MODULES="mod @modelcontextprotocol/server @modelcontextprotocol/client zod jose
#            @simplewebauthn/server auth/pages/consent.ts auth/pages/owner.ts store/kv.ts"
#            cold: what bench/import_cost.ts imports in a fresh process, each cold round
#   STORE_ROUNDS=3 STORE_SECONDS=5 STORE_GRANTS="10 10000 100000" STORE_RUNTIMES="deno bun"
#   BASELINE=<dir>   another checkout of this repository (e.g. the previous release, with
#            node_modules and a bench/ of this version): its server runs as base-deno and
#            base-bun in every part, interleaved with ours, and the ratios ours/base are printed
#   SERVER_CPU=0 GEN_CPU=1                                   taskset cores (server / load or driver)
#   SHARED_BENCH=<repo>/../shared/bench                       the shared harness (read-only)
#   PEER_DIR=~/.cache/personal-mcp-bench/harness              writable copy + npm deps of peers
#   LOGDIR=bench/logs                                         logs and summary files (gitignored)
#
# Prints each summary line as it comes, then medians and the ratios of ours to the
# baselines. Rounds interleave what they compare, so slow drift hits all of them.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench

ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-10} WARMUP=${WARMUP:-3} CONNS=${CONNS:-50} CHECK=${CHECK:-1}
export SERVER_CPU=${SERVER_CPU:-0} GEN_CPU=${GEN_CPU:-1} GEN=wrk
[ -n "${SERVERS:-}" ] && SERVERS_SET=1
SERVERS=${SERVERS:-"ceiling-deno limit-deno peer-deno-sdk ours-deno ours-bun peer-bun-sdk limit-bun ceiling-bun"}
PARTS=${PARTS:-"load cold store gateway alloc"}
BASELINE=${BASELINE:-}
if [ -n "$BASELINE" ]; then
  BASELINE=$(cd "$BASELINE" && pwd) || exit 1
  [ -f "$BASELINE/bench/server.ts" ] && [ -f "$BASELINE/bench/store.ts" ] ||
    { echo "bench: BASELINE needs bench/server.ts and bench/store.ts of this version" >&2; exit 1; }
  [ -d "$BASELINE/node_modules" ] || { echo "bench: BASELINE needs its node_modules" >&2; exit 1; }
  [ -n "${SERVERS_SET:-}" ] || SERVERS="$SERVERS base-deno base-bun"
fi
# Where each of our servers' code lives.
tree_of() { case $1 in base-*) echo "$BASELINE";; *) echo "$ROOT";; esac; }
COLD_ROUNDS=${COLD_ROUNDS:-10}
IMPORT_MODULES=${IMPORT_MODULES:-"mod @modelcontextprotocol/server @modelcontextprotocol/client zod jose @simplewebauthn/server auth/pages/consent.ts auth/pages/owner.ts store/kv.ts"}
STORE_ROUNDS=${STORE_ROUNDS:-3} STORE_SECONDS=${STORE_SECONDS:-5}
STORE_GRANTS=${STORE_GRANTS:-"10 10000 100000"} STORE_RUNTIMES=${STORE_RUNTIMES:-"deno bun"}
has_part() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
export LOGDIR=${LOGDIR:-$BENCH/logs}
mkdir -p "$LOGDIR"

die() { echo "bench: $*" >&2; exit 1; }

# ---- tools and runtimes (nothing is installed here except the peers' npm deps)
command -v wrk >/dev/null || die "wrk not found: apt-get install -y wrk"
for t in taskset curl timeout node npm; do command -v "$t" >/dev/null || die "$t not found"; done
[ -d "$ROOT/node_modules" ] || die "no node_modules in $ROOT: run npm install first"
first_file() { for f in "$@"; do [ -x "$f" ] && { echo "$f"; return; }; done; }
# The real binaries, not the npm wrappers: bench.sh must kill the server's own PID.
DENO=$(first_file "$ROOT/node_modules/deno/deno" "$ROOT/node_modules/@deno/linux-x64-glibc/deno")
BUN=$(first_file "$ROOT/node_modules/bun/bin/bun.exe" "$ROOT/node_modules/@oven/bun-linux-x64/bin/bun")
[ -n "$DENO" ] || die "no deno binary under node_modules (npm install deno)"
[ -n "$BUN" ] || die "no bun binary under node_modules (npm install bun)"

# ---- the shared harness: a sibling of the repo (../shared/bench), used from a writable copy
SHARED=${SHARED_BENCH:-}
if [ -z "$SHARED" ]; then
  for d in "$ROOT/../shared/bench" "$(dirname "$ROOT")/shared/bench" /work/shared/bench; do
    [ -f "$d/bench.sh" ] && { SHARED=$(cd "$d" && pwd); break; }
  done
fi
[ -n "$SHARED" ] && [ -f "$SHARED/bench.sh" ] || die "shared bench harness not found (set SHARED_BENCH)"
HARNESS=${PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/personal-mcp-bench/harness}
mkdir -p "$HARNESS/servers"
cp "$SHARED"/bench.sh "$SHARED"/*.lua "$SHARED"/package.json "$HARNESS"/
cp "$SHARED"/servers/*.js "$HARNESS"/servers/
chmod +x "$HARNESS/bench.sh"

# The peers need SDK 1.x and express (the repo has SDK 2.x): installed once into the copy,
# without the deno/bun packages of its package.json (ours under node_modules are used).
need_peers=0
has_part cold && need_peers=1
has_part load && case " $SERVERS " in *" peer-"*) need_peers=1;; esac
if [ $need_peers = 1 ]; then
  if [ "$(node -p 'require(process.argv[1]).version' "$HARNESS/node_modules/@modelcontextprotocol/sdk/package.json" 2>/dev/null)" != 1.32.2 ]; then
    echo "bench: installing the peers' npm deps into $HARNESS" >&2
    node -e '
      const fs = require("fs"), p = process.argv[1] + "/package.json", j = JSON.parse(fs.readFileSync(p, "utf8"));
      for (const k of ["bun", "deno"]) delete j.dependencies[k];
      fs.writeFileSync(p, JSON.stringify(j, null, 2));' "$HARNESS"
    (cd "$HARNESS" && timeout 300 npm install --no-audit --no-fund --loglevel=error) >&2 ||
      die "npm install of the peers' deps failed"
  fi
fi

# ---- our server: a real token, issued by the server's own OAuth flow (see bench/server.ts)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pmcp-bench.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# The token the harness's own servers accept (the peers have it built in; the limits read TOKEN).
HARNESS_TOKEN=bench-token-0123456789abcdef
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
declare -A TOKENS
mint() { # $1 name $2 port [$3 state dir] -> TOKENS[name], snapshot $WORK/$1.json
  local out
  out=$(cd "$(tree_of "$1")" && timeout 60 "$DENO" run -A bench/server.ts mint --base-url "http://127.0.0.1:$2" \
    --password "$PASSWORD" --state "$WORK/$1.json" ${3:+--state-dir "$3"}) || die "$1: minting a token failed"
  TOKENS[$1]=$(echo "$out" | tail -n 1)
}

port_of() {
  case $1 in
    ceiling-deno) echo 8101;; peer-deno-sdk) echo 8102;; ours-deno) echo 8103;;
    ours-bun) echo 8104;; peer-bun-sdk) echo 8105;; ceiling-bun) echo 8106;;
    ours-deno-nla) echo 8107;; base-deno) echo 8108;; base-bun) echo 8109;;
    limit-deno) echo 8110;; limit-bun) echo 8111;;
    var-endpoint-deno) echo 8121;; var-parsed-deno) echo 8122;; var-pooled-deno) echo 8123;;
    var-json-deno) echo 8124;; var-endpoint-bun) echo 8131;; var-parsed-bun) echo 8132;;
    var-pooled-bun) echo 8133;; var-json-bun) echo 8134;;
    *) die "unknown server $1";;
  esac
}

run_one() { # $1 name -> one summary line on stdout
  local name=$1 port; port=$(port_of "$1")
  local limit=$((DURATION + WARMUP + 120))
  local serve=(serve --port "$port" --password "$PASSWORD" --state "$WORK/$name.json")
  case $name in
    ceiling-deno) (cd "$HARNESS" && timeout "$limit" ./bench.sh "$name" "$port" \
                   env PORT="$port" "$DENO" run -A servers/ceiling-deno.js);;
    ceiling-bun)  (cd "$HARNESS" && timeout "$limit" ./bench.sh "$name" "$port" \
                   env PORT="$port" "$BUN" servers/ceiling-bun.js);;
    # The limits and the peers accept the harness's token (bench.sh sends TOKEN), no other.
    limit-deno)   (cd "$HARNESS" && TOKEN=$HARNESS_TOKEN timeout "$limit" ./bench.sh "$name" "$port" \
                   env PORT="$port" "$DENO" run -A servers/limit-deno.js);;
    limit-bun)    (cd "$HARNESS" && TOKEN=$HARNESS_TOKEN timeout "$limit" ./bench.sh "$name" "$port" \
                   env PORT="$port" "$BUN" servers/limit-bun.js);;
    peer-deno-sdk) (cd "$HARNESS" && TOKEN=$HARNESS_TOKEN timeout "$limit" ./bench.sh "$name" "$port" \
                   env PORT="$port" "$DENO" run -A servers/peer-deno-sdk.js);;
    peer-bun-sdk) (cd "$HARNESS" && TOKEN=$HARNESS_TOKEN timeout "$limit" ./bench.sh "$name" "$port" \
                   env PORT="$port" "$BUN" servers/peer-bun-sdk.js);;
    ours-deno|base-deno) (cd "$(tree_of "$name")" && TOKEN=${TOKENS[$name]} timeout "$limit" "$HARNESS/bench.sh" "$name" "$port" \
                   "$DENO" run -A bench/server.ts "${serve[@]}");;
    ours-deno-nla) (cd "$ROOT" && TOKEN=${TOKENS[$name]} timeout "$limit" "$HARNESS/bench.sh" "$name" "$port" \
                   "$DENO" run -A --unstable-no-legacy-abort bench/server.ts "${serve[@]}");;
    ours-bun|base-bun) (cd "$(tree_of "$name")" && TOKEN=${TOKENS[$name]} timeout "$limit" "$HARNESS/bench.sh" "$name" "$port" \
                   "$BUN" run bench/server.ts "${serve[@]}");;
    var-*-deno)   (cd "$ROOT" && timeout "$limit" "$HARNESS/bench.sh" "$name" "$port" \
                   env PORT="$port" VARIANT="$(echo "$name" | cut -d- -f2)" "$DENO" run -A bench/variants.ts);;
    var-*-bun)    (cd "$ROOT" && timeout "$limit" "$HARNESS/bench.sh" "$name" "$port" \
                   env PORT="$port" VARIANT="$(echo "$name" | cut -d- -f2)" "$BUN" bench/variants.ts);;
  esac
}

SUMMARY="$LOGDIR/summary.$(date +%Y%m%d-%H%M%S).txt"
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && git diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo "+dirty")
[ -n "$BASELINE" ] && COMMIT="$COMMIT baseline=$(cd "$BASELINE" && git rev-parse --short HEAD 2>/dev/null || echo "$BASELINE")"
echo "# $(date -u +%FT%TZ) commit $COMMIT; $(nproc) cores, $(uname -r); deno $("$DENO" --version | head -1 | cut -d' ' -f2), bun $("$BUN" --version); parts=$PARTS rounds=$ROUNDS duration=${DURATION}s conns=$CONNS cold_rounds=$COLD_ROUNDS store_rounds=$STORE_ROUNDS store_seconds=$STORE_SECONDS server_cpu=$SERVER_CPU gen_cpu=$GEN_CPU" | tee "$SUMMARY"

# ---- load: wrk against each server, rounds interleaved
if has_part load; then
  for s in $SERVERS; do
    port_of "$s" >/dev/null || exit 1
    case $s in ours-*|base-*) mint "$s" "$(port_of "$s")";; esac
  done
  for r in $(seq 1 "$ROUNDS"); do
    for s in $SERVERS; do
      line=$(run_one "$s" | tail -n 1)
      [ -n "$line" ] || line="name=$s ERROR no summary line (timeout?)"
      echo "round=$r $line" | tee -a "$SUMMARY"
    done
  done
fi

# ---- cold: spawn to first authenticated call; ours restarts on a file store holding its grant
if has_part cold; then
  COLD_SERVERS="ours-deno peer-deno-sdk ours-bun peer-bun-sdk"
  mint cold 8141 "$WORK/cold-state"
  if [ -n "$BASELINE" ]; then
    mint base-cold 8141 "$WORK/base-cold-state"
    COLD_SERVERS="ours-deno base-deno peer-deno-sdk ours-bun base-bun peer-bun-sdk"
  fi
  cold_one() { # $1 name -> one kind=cold line
    local name=$1 which=cold
    case $name in base-*) which=base-cold;; esac
    local ours=(bench/server.ts serve --port 8141 --password "$PASSWORD" --state "$WORK/$which.json" --state-dir "$WORK/$which-state")
    local driver=(taskset -c "$GEN_CPU" timeout 60 "$DENO" run -A "$BENCH/cold_start.ts" --name "$name" --port 8141 --cpu "$SERVER_CPU")
    case $name in
      ours-deno|base-deno) (cd "$(tree_of "$name")" && "${driver[@]}" --token="${TOKENS[$which]}" -- "$DENO" run -A "${ours[@]}");;
      ours-bun|base-bun)  (cd "$(tree_of "$name")" && "${driver[@]}" --token="${TOKENS[$which]}" -- "$BUN" run "${ours[@]}");;
      peer-deno-sdk) (cd "$HARNESS" && env PORT=8141 "${driver[@]}" --token="$HARNESS_TOKEN" -- "$DENO" run -A servers/peer-deno-sdk.js);;
      peer-bun-sdk)  (cd "$HARNESS" && env PORT=8141 "${driver[@]}" --token="$HARNESS_TOKEN" -- "$BUN" servers/peer-bun-sdk.js);;
    esac
  }
  import_one() { # $1 tree $2 label (deno bun base-deno base-bun) $3 module -> one kind=import line
    local tree=$1 label=$2 m=$3 rt=${2#base-} out line
    # A baseline without that file has no such row. The instrument is ours for both trees.
    case $m in *.ts) [ -f "$tree/$m" ] || return 0;; esac
    # --no-install: a package missing from the tree's node_modules is an error, not a download.
    case $rt in deno) RT=("$DENO" run -A --config "$tree/deno.json");; bun) RT=("$BUN" --no-install);; esac
    out=$(cd "$tree" && timeout 60 taskset -c "$SERVER_CPU" "${RT[@]}" "$BENCH/import_cost.ts" \
      --root "$tree" "$m" 2>"$LOGDIR/import.$label.err")
    line=$(echo "$out" | grep '^kind=import' | tail -n 1)
    [ -n "$line" ] || line="kind=import runtime=$rt module=$m ERROR see $LOGDIR/import.$label.err"
    [ "$tree" = "$ROOT" ] || line=$(echo "$line" | sed "s/runtime=$rt /runtime=$label /")
    echo "$line"
  }
  # One unmeasured start of each fills the runtimes' module caches.
  for s in $COLD_SERVERS; do cold_one "$s" >/dev/null; done
  for r in $(seq 1 "$COLD_ROUNDS"); do
    for s in $COLD_SERVERS; do
      line=$(cold_one "$s" | tail -n 1)
      [ -n "$line" ] || line="kind=cold name=$s ERROR no line from the driver"
      echo "round=$r $line" | tee -a "$SUMMARY"
    done
    for m in $IMPORT_MODULES; do
      for rt in deno bun; do
        for tree in "$ROOT" ${BASELINE:+"$BASELINE"}; do
          label=$rt; [ "$tree" = "$ROOT" ] || label=base-$rt
          line=$(import_one "$tree" "$label" "$m")
          [ -z "$line" ] || echo "round=$r $line" | tee -a "$SUMMARY"
        done
      done
    done
  done
fi

# ---- store: the JSON file store at each size, each measurement in a fresh process
if has_part store; then
  for g in $STORE_GRANTS; do
    (cd "$ROOT" && timeout 600 "$DENO" run -A bench/store.ts gen --grants "$g" --dir "$WORK/store-$g.seed" \
      --meta "$WORK/store-$g.meta.json") || die "store: generating $g grants failed"
  done
  for r in $(seq 1 "$STORE_ROUNDS"); do
    for rt in $STORE_RUNTIMES; do
      for g in $STORE_GRANTS; do
        for tree in "$ROOT" ${BASELINE:+"$BASELINE"}; do
          # A fresh copy each time: the state before any of this run's exchanges.
          rm -rf "$WORK/store-$g"; cp -a "$WORK/store-$g.seed" "$WORK/store-$g"
          case $rt in deno) RT=("$DENO" run -A);; bun) RT=("$BUN");; esac
          args=(--dir "$WORK/store-$g" --meta "$WORK/store-$g.meta.json")
          label=$rt; [ "$tree" = "$ROOT" ] || label=base-$rt
          # The first open migrates an old-format file (when the store does that); not measured.
          (cd "$tree" && timeout 600 taskset -c "$SERVER_CPU" "${RT[@]}" bench/store.ts open "${args[@]}") >/dev/null 2>&1
          line=$(cd "$tree" && timeout 900 taskset -c "$SERVER_CPU" "${RT[@]}" bench/store.ts run "${args[@]}" \
            --seconds "$STORE_SECONDS" 2>"$LOGDIR/store.$label.$g.err" | tail -n 1)
          [ -n "$line" ] || line="kind=store runtime=$rt grants=$g ERROR see $LOGDIR/store.$label.$g.err"
          [ "$tree" = "$ROOT" ] || line=$(echo "$line" | sed "s/runtime=$rt/runtime=base-$rt/")
          echo "round=$r $line" | tee -a "$SUMMARY"
        done
      done
    done
  done
fi

# ---- alloc: JavaScript heap allocated per call (Deno's --trace-gc), ours and the baseline
if has_part alloc; then
  for tree in "$ROOT" ${BASELINE:+"$BASELINE"}; do
    label=deno; [ "$tree" = "$ROOT" ] || label=base-deno
    if [ ! -f "$tree/bench/allocation.ts" ]; then
      echo "round=1 kind=allocation runtime=$label ERROR no bench/allocation.ts in $tree" | tee -a "$SUMMARY"
      continue
    fi
    out=$(cd "$tree" && timeout 600 taskset -c "$SERVER_CPU" "$DENO" run -A bench/allocation.ts 2>"$LOGDIR/alloc.$label.err")
    [ -n "$out" ] || out="kind=allocation runtime=deno ERROR see $LOGDIR/alloc.$label.err"
    echo "$out" | sed "s/runtime=deno/runtime=$label/; s/^/round=1 /" | tee -a "$SUMMARY"
  done
fi

# ---- gateway: server-everything's echo through our server against the SDK client's own stdio
#      (the baseline's too, when it has bench/gateway.ts: its lines say runtime=base-<rt>)
if has_part gateway; then
  for rt in deno bun; do
    case $rt in deno) RT=("$DENO" run -A);; bun) RT=("$BUN");; esac
    for tree in "$ROOT" ${BASELINE:+"$BASELINE"}; do
      label=$rt; [ "$tree" = "$ROOT" ] || label=base-$rt
      [ -f "$tree/bench/gateway.ts" ] || continue
      (cd "$tree" && timeout 900 taskset -c "$SERVER_CPU" "${RT[@]}" bench/gateway.ts 2>"$LOGDIR/gateway.$label.err") |
        sed "s/runtime=$rt /runtime=$label /" | tee -a "$SUMMARY" | grep "kind=gateway-added" ||
        echo "round=1 kind=gateway runtime=$label ERROR see $LOGDIR/gateway.$label.err" | tee -a "$SUMMARY"
    done
  done
fi
echo
(cd "$ROOT" && "$DENO" run --allow-read bench/summarize.ts "$SUMMARY")
echo "summary lines: $SUMMARY"
