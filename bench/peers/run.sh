#!/usr/bin/env bash
# Side by side: parley against Centrifugo v6.9.1, the same scenarios on the
# same machine, the server pinned to one half of the CPUs and the load
# generator to the other (on 2 cores: server cpu 0, generator cpu 1).
#
#   bench/peers/run.sh                      # every scenario, 3 runs each
#   RUNS=1 SCENARIOS="fanout-light" bench/peers/run.sh
#   OUT=/tmp/peers bench/peers/run.sh       # keep the JSON files and plots there
#   BENCH_ARGS="-duration 3s" ...           # extra bench flags, after the scenario's
#
# Scenarios: fanout-light (10 rooms x 100 members x 5 senders at 30 msg/s
# each: half Centrifugo's knee, the latency comparison), fanout-10 (the same
# at 10 msg/s: everyday load, CPU per delivery), fanout-light-json and
# fanout-10-json (the same with one JSON object per frame, the protocol the
# seed's clients speak, instead of parley.batch.v1), ramp-10x100,
# ramp-1x1000 (the knees), idle (19,000 connections in 100 rooms: the connect
# storm, then RSS per connection),
# persist (parley only). Each bench run builds and starts its own parley;
# Centrifugo is installed with `go install` into a temporary directory,
# started once, and stopped (by its PID) at the end. Nothing of Centrifugo
# is kept.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"fanout-light fanout-light-json fanout-10 fanout-10-json ramp-10x100 ramp-1x1000 idle persist"}
CENTRIFUGO_VERSION=${CENTRIFUGO_VERSION:-v6.9.1}
OUT=${OUT:-$(mktemp -d /tmp/parley-peers.XXXXXX)}
mkdir -p "$OUT"

ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then
	half=$((ncpu / 2))
	SERVER_CPUS=${SERVER_CPUS:-$(seq -s, 0 $((half - 1)))}
	CLIENT_CPUS=${CLIENT_CPUS:-$(seq -s, "$half" $((ncpu - 1)))}
else
	SERVER_CPUS=${SERVER_CPUS:-}
	CLIENT_CPUS=${CLIENT_CPUS:-}
fi

args_of() {
	case "$1" in
	fanout-light) echo "-scenario fanout -rooms 10 -members 100 -senders 5 -rate 30 -duration 10s" ;;
	fanout-light-json) echo "-scenario fanout -rooms 10 -members 100 -senders 5 -rate 30 -duration 10s -batch=false" ;;
	fanout-10) echo "-scenario fanout -rooms 10 -members 100 -senders 5 -rate 10 -duration 10s" ;;
	fanout-10-json) echo "-scenario fanout -rooms 10 -members 100 -senders 5 -rate 10 -duration 10s -batch=false" ;;
	ramp-10x100) echo "-scenario ramp -rooms 10 -members 100 -senders 5 -start-rate 20 -step 1.25 -step-duration 5s" ;;
	ramp-1x1000) echo "-scenario ramp -rooms 1 -members 1000 -senders 1 -start-rate 200 -step 1.25 -step-duration 5s" ;;
	idle) echo "-scenario idle -conns 19000 -rooms 100" ;;
	persist) echo "-scenario persist" ;;
	*)
		echo "run.sh: unknown scenario $1" >&2
		return 1
		;;
	esac
}

for sc in $SCENARIOS; do
	args_of "$sc" >/dev/null
done

work=$(mktemp -d /tmp/parley-peers-work.XXXXXX)
cpid=""
cleanup() {
	if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
		kill -TERM "$cpid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$cpid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$cpid" 2>/dev/null || true
		wait "$cpid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== installing Centrifugo $CENTRIFUGO_VERSION into $work/bin (go install; a few minutes the first time)"
GOBIN="$work/bin" go install "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"

echo "== building the bench"
go build -tags sqlite_fts5 -o "$work/bench" ./bench # persist and search open a store in process: FTS5

# The fields of shared/peers/centrifugo.json: anonymous connect, subscribe and
# publish on 127.0.0.1:8000, history of 50 per channel in memory, errors only.
cat >"$work/centrifugo.json" <<'EOF'
{
  "http_server": { "address": "127.0.0.1", "port": 8000 },
  "log": { "level": "error" },
  "client": {
    "insecure": true,
    "allow_anonymous_connect_without_token": true,
    "allowed_origins": ["*"]
  },
  "channel": {
    "without_namespace": {
      "allow_subscribe_for_anonymous": true,
      "allow_subscribe_for_client": true,
      "allow_publish_for_anonymous": true,
      "allow_publish_for_client": true,
      "allow_publish_for_subscriber": true,
      "history_size": 50,
      "history_ttl": "300s",
      "force_recovery": true,
      "allow_recovery": true
    }
  },
  "usage_stats": { "disabled": true }
}
EOF

if (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null; then
	echo "run.sh: something already listens on 127.0.0.1:8000; stop it first" >&2
	exit 1
fi
echo "== starting Centrifugo (cpus ${SERVER_CPUS:-any})"
if [ -n "$SERVER_CPUS" ] && command -v taskset >/dev/null; then
	taskset -c "$SERVER_CPUS" "$work/bin/centrifugo" -c "$work/centrifugo.json" >"$work/centrifugo.log" 2>&1 &
else
	"$work/bin/centrifugo" -c "$work/centrifugo.json" >"$work/centrifugo.log" 2>&1 &
fi
cpid=$!
for i in $(seq 1 300); do
	if (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null; then
		break
	fi
	if ! kill -0 "$cpid" 2>/dev/null || [ "$i" = 300 ]; then
		echo "run.sh: Centrifugo did not start:" >&2
		cat "$work/centrifugo.log" >&2
		exit 1
	fi
	sleep 0.1
done

bench=("$work/bench" -quiet -server-cpus "$SERVER_CPUS" -client-cpus "$CLIENT_CPUS" -timeout 20m)
centrifugo=(-target centrifugo -url ws://127.0.0.1:8000/connection/websocket -server-pid "$cpid")

for sc in $SCENARIOS; do
	read -r -a a <<<"$(args_of "$sc") ${BENCH_ARGS:-}"
	files=()
	for run in $(seq 1 "$RUNS"); do
		echo "== $sc, run $run/$RUNS: parley"
		"${bench[@]}" "${a[@]}" -json "$OUT/$sc-parley-$run.json" | tee "$OUT/$sc-parley-$run.txt"
		files+=("$OUT/$sc-parley-$run.json")
		if [ "$sc" != persist ]; then
			echo "== $sc, run $run/$RUNS: centrifugo"
			"${bench[@]}" "${centrifugo[@]}" "${a[@]}" -json "$OUT/$sc-centrifugo-$run.json" | tee "$OUT/$sc-centrifugo-$run.txt"
			files+=("$OUT/$sc-centrifugo-$run.json")
		fi
	done
	plot=()
	case "$sc" in fanout* | ramp* | idle) plot=(-plot "$OUT/$sc.svg") ;; esac
	(IFS=,; "$work/bench" -compare "${files[*]}" "${plot[@]}") | tee "$OUT/$sc-compare.txt"
done

echo
echo "== side by side (medians of $RUNS runs; ratio = parley / centrifugo)"
for sc in $SCENARIOS; do
	cat "$OUT/$sc-compare.txt"
done
echo
echo "results, plots and logs: $OUT"
