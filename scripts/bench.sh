#!/usr/bin/env bash
# bench.sh: measure Herald's public side against a plain net/http baseline.
#
# The requirement: with 5 components, 3 active incidents of 20 updates each
# and 90 days of history (what `herald demo-data` seeds), `wrk -t2 -c64
# -d15s` against GET / and GET /api/v2/summary.json, each with and without
# Accept-Encoding: gzip, side by side with a plain net/http handler that
# returns the same bytes from memory (scripts/plainserver -copy-headers: the
# same status line, headers and body as Herald's response, with net/http's
# defaults and nothing else). Targets: at least
# 90% of the plain handler's throughput in every case; RSS at most 30 MiB
# idle and 50 MiB under that load; ready within 1 s of start on the seeded
# SQLite database.
#
# wrk and the servers share the CPU (2 cores here), so absolute numbers move
# from run to run. The script alternates plain, herald, plain, herald for
# each case and quotes the ratio of the means; it waits for a quiet machine
# before each run (bounded) and reports how much CPU the rest of the machine
# took during the runs, so a disturbed run can be told from a slow server. It also reports each server's
# CPU time per request (user+sys from /proc/PID/stat over the run, divided by
# wrk's request count), which other load on the machine disturbs less.
#
# Usage: scripts/bench.sh            (from anywhere in the repository)
# Environment:
#   BENCH_DURATION      wrk duration per run (default 15s)
#   BENCH_THREADS       wrk threads (default 2)
#   BENCH_CONNS         wrk connections (default 64)
#   BENCH_BARE          1: also run a plain server that sends
#                       the same bodies with only Content-Type,
#                       Content-Encoding and Content-Length (plainserver
#                       without -copy-headers). Not a target: it shows what
#                       Herald's header block (ETag, Last-Modified, Vary,
#                       Cache-Control, the security headers: ~400 bytes more
#                       per response) costs on the wire, where wrk, sharing
#                       the CPU, has to read it too
#   BENCH_NOMETRICS     1: also run Herald built with -tags nometrics (no
#                       request latency histogram) from the same database,
#                       to measure what counting requests costs the hot path
#   BENCH_CASES         only the cases whose name matches this regex
#                       (names: "/", "/ gzip", "summary", "summary gzip")
#   BENCH_ROUNDS        alternation rounds per case (default 5); the tables
#                       give the median over the rounds (for an even count,
#                       the mean of the middle two). A ratio is the median of
#                       each round's ratio: the two servers' runs of a round
#                       are next to each other in time, so the machine's
#                       slower minutes hit both. Single 15 s runs of the same
#                       server move by up to 20% here: with 3 rounds one run
#                       of the summary case came out at 0.817 (rounds 0.817,
#                       1.116, 0.817) 45 minutes after 0.992 with the same
#                       code, while a CPU profile under that load had
#                       Herald's handler at 95% in net/http's Write; 5 rounds
#                       (about 20 minutes) keep one disturbed run from the
#                       verdict
#   BENCH_QUIET_WAIT    before each run, wait up to this many seconds
#                       (default 20) for the rest of the machine to use less
#   BENCH_QUIET_MAX     than this many cores (default 0.25); then run anyway.
#                       The report gives the worst such load seen during a case.
#   HERALD_PORT, PLAIN_PORT, BARE_PORT, NOMETRICS_PORT  ports (default 18080-18083)
#   BENCH_KEEP=1        keep the temporary directory (binaries, db, logs, wrk output)
# Needs: go, wrk, curl, GNU time (/usr/bin/time). Writes bench-results/bench-YYYYmmdd-HHMMSS.md.
# Exit status: 0 if every target passed.
set -euo pipefail
export GOTOOLCHAIN=local LC_ALL=C

DURATION=${BENCH_DURATION:-15s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-64}
HERALD_PORT=${HERALD_PORT:-18080}
PLAIN_PORT=${PLAIN_PORT:-18081}
BARE_PORT=${BARE_PORT:-18082}
NOMETRICS_PORT=${NOMETRICS_PORT:-18083}
NOMETRICS=${BENCH_NOMETRICS:-0}
CASE_MATCH=${BENCH_CASES:-}
BARE=${BENCH_BARE:-0}
ROUNDS=${BENCH_ROUNDS:-5}
QUIET_WAIT=${BENCH_QUIET_WAIT:-20}
QUIET_MAX=${BENCH_QUIET_MAX:-0.25}
HOST=127.0.0.1

# Targets.
MIN_RATIO=0.90
MAX_IDLE_KB=$((30 * 1024))
MAX_LOAD_KB=$((50 * 1024))
MAX_START_MS=1000

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

for tool in go wrk curl /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (apt-get install -y $tool)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench.XXXXXX")
HERALD_PID=""
PLAIN_PID=""
BARE_PID=""
NOMETRICS_PID=""
SAMPLER_PID=""

cleanup() {
	local pid
	for pid in "$SAMPLER_PID" "$NOMETRICS_PID" "$BARE_PID" "$PLAIN_PID" "$HERALD_PID"; do
		[[ -n $pid ]] && kill "$pid" 2>/dev/null || true
	done
	for pid in "$SAMPLER_PID" "$NOMETRICS_PID" "$BARE_PID" "$PLAIN_PID" "$HERALD_PID"; do
		[[ -n $pid ]] && wait "$pid" 2>/dev/null || true
	done
	if [[ ${BENCH_KEEP:-} == 1 ]]; then
		echo "bench: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'bench: %s\n' "$*" >&2; }

# port_free PORT: nothing answers on HOST:PORT.
port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# rss_kb PID [FIELD]: VmRSS (or another Vm field) in kB, without forking.
rss_kb() {
	local k v _ field=${2:-VmRSS}
	while read -r k v _; do
		if [[ $k == "$field:" ]]; then
			echo "$v"
			return
		fi
	done <"/proc/$1/status"
	echo 0
}

# cpu_ticks PID: user+system CPU time of PID, in clock ticks.
cpu_ticks() {
	local line rest
	read -r line <"/proc/$1/stat"
	rest=${line##*) } # the command name may hold spaces; fields after it do not
	# shellcheck disable=SC2086
	set -- $rest
	echo $((${12} + ${13}))
}
CLK_TCK=$(getconf CLK_TCK)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# now_us: microseconds since the epoch, from bash itself.
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

loadavg() { local a b c _; read -r a b c _ </proc/loadavg; echo "$a $b $c"; }

# wait_http URL PID NAME: poll URL until 200, for about 10 s at most.
wait_http() {
	local i
	for ((i = 0; i < 1000; i++)); do
		kill -0 "$2" 2>/dev/null || { cat "$TMP/$3.log" >&2; log "$3 exited"; exit 1; }
		if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true) == 200 ]]; then
			return 0
		fi
		sleep 0.01
	done
	cat "$TMP/$3.log" >&2
	log "$3 did not start"
	exit 1
}

PORTS=("$HERALD_PORT" "$PLAIN_PORT")
[[ $BARE == 1 ]] && PORTS+=("$BARE_PORT")
[[ $NOMETRICS == 1 ]] && PORTS+=("$NOMETRICS_PORT")
for p in "${PORTS[@]}"; do
	port_free "$p" || { log "port $p is in use; set HERALD_PORT / PLAIN_PORT / BARE_PORT / NOMETRICS_PORT"; exit 1; }
done
LOAD_BEFORE=$(loadavg)

# --- Build -------------------------------------------------------------------
log "building herald and plainserver"
# As the Dockerfile builds it: what runs in production (no cgo, so a static
# binary; no symbol tables). The plain server the same way.
BUILD=(env CGO_ENABLED=0 go build -trimpath -ldflags=-s\ -w)
"${BUILD[@]}" -o "$TMP/herald" ./cmd/herald
"${BUILD[@]}" -o "$TMP/plainserver" ./scripts/plainserver
if [[ $NOMETRICS == 1 ]]; then "${BUILD[@]}" -tags nometrics -o "$TMP/herald-nometrics" ./cmd/herald; fi

# --- Seed --------------------------------------------------------------------
export HERALD_DATABASE_URL="sqlite:$TMP/herald.db"
export HERALD_ADDR="$HOST:$HERALD_PORT"
# The demo incidents are hours old, so the cadence engine would send their
# overdue holding updates at start and change the page's version while the
# plain server replays the bytes fetched before: the read path measured
# here does not involve the engine, so it is off.
export HERALD_ENGINE=false
unset HERALD_CONFIG HERALD_LOG_LEVEL HERALD_ADMIN_TOKEN HERALD_ADMIN_TOKEN_FILE || true
log "seeding $TMP/herald.db"
"$TMP/herald" demo-data >"$TMP/demo-data.log" 2>&1 || { cat "$TMP/demo-data.log" >&2; exit 1; }

# --- Start and time to ready ---------------------------------------------------
sync # the seed's writes should not land in the startup time
log "starting herald on $HERALD_ADDR"
T0=$(now_us)
"$TMP/herald" serve >"$TMP/herald.log" 2>&1 &
HERALD_PID=$!
READY_US=""
for ((i = 0; i < 4000; i++)); do # about 20 s at most
	if ! kill -0 "$HERALD_PID" 2>/dev/null; then
		cat "$TMP/herald.log" >&2
		log "herald exited during start"
		exit 1
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$HERALD_ADDR/readyz" || true)
	if [[ $code == 200 ]]; then
		READY_US=$(now_us)
		break
	fi
	sleep 0.005
done
[[ -n $READY_US ]] || { cat "$TMP/herald.log" >&2; log "herald not ready after 20 s"; exit 1; }
START_MS=$(((READY_US - T0) / 1000))
log "ready in ${START_MS} ms"

# --- Baselines -----------------------------------------------------------------
# plain: Herald's exact response (status line, headers, body) from memory,
# on net/http's defaults. The target is measured against it.
"$TMP/plainserver" -herald "http://$HERALD_ADDR" -addr "$HOST:$PLAIN_PORT" -copy-headers \
	-paths "/,/api/v2/summary.json" >"$TMP/plain.log" 2>&1 &
PLAIN_PID=$!
wait_http "http://$HOST:$PLAIN_PORT/" "$PLAIN_PID" plain
SERVERS=(plain herald)
if [[ $BARE == 1 ]]; then
	# bare: the same bodies with only the three content headers.
	"$TMP/plainserver" -herald "http://$HERALD_ADDR" -addr "$HOST:$BARE_PORT" \
		-paths "/,/api/v2/summary.json" >"$TMP/bare.log" 2>&1 &
	BARE_PID=$!
	wait_http "http://$HOST:$BARE_PORT/" "$BARE_PID" bare
	SERVERS=(plain bare herald)
fi
if [[ $NOMETRICS == 1 ]]; then
	HERALD_ADDR="$HOST:$NOMETRICS_PORT" "$TMP/herald-nometrics" serve >"$TMP/nometrics.log" 2>&1 &
	NOMETRICS_PID=$!
	wait_http "http://$HOST:$NOMETRICS_PORT/readyz" "$NOMETRICS_PID" nometrics
	SERVERS+=(nometrics)
fi
declare -A URLBASE=([plain]="http://$HOST:$PLAIN_PORT" [bare]="http://$HOST:$BARE_PORT" [herald]="http://$HERALD_ADDR"
	[nometrics]="http://$HOST:$NOMETRICS_PORT")
declare -A PIDOF=([plain]=$PLAIN_PID [bare]=$BARE_PID [herald]=$HERALD_PID [nometrics]=$NOMETRICS_PID)

# Case table: name, path, Accept-Encoding.
CASES=()
for c in "/|/|" "/ gzip|/|gzip" "summary|/api/v2/summary.json|" "summary gzip|/api/v2/summary.json|gzip"; do
	[[ -z $CASE_MATCH || ${c%%|*} =~ $CASE_MATCH ]] && CASES+=("$c")
done
((${#CASES[@]} > 0)) || { log "BENCH_CASES=$CASE_MATCH matches no case"; exit 1; }

# The servers must send the same bytes; record sizes for the report.
declare -A SIZE
for c in "${CASES[@]}"; do
	IFS='|' read -r name path enc <<<"$c"
	hdr=()
	[[ -n $enc ]] && hdr=(-H "Accept-Encoding: $enc")
	curl -s --max-time 5 "${hdr[@]}" -o "$TMP/h.body" "http://$HERALD_ADDR$path"
	for s in "${SERVERS[@]}"; do
		[[ $s == herald ]] && continue
		curl -s --max-time 5 "${hdr[@]}" -o "$TMP/p.body" "${URLBASE[$s]}$path"
		if [[ $s == nometrics ]]; then
			# Its own snapshot of the same data: only the build time in the
			# page may differ, so compare lengths (within 1%).
			awk -v a="$(wc -c <"$TMP/h.body")" -v b="$(wc -c <"$TMP/p.body")" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= a / 100) }' ||
				{ log "case $name: herald and herald-nometrics send bodies of different sizes"; exit 1; }
			continue
		fi
		cmp -s "$TMP/h.body" "$TMP/p.body" || { log "case $name: herald and $s send different bytes"; exit 1; }
		if [[ $s == plain ]]; then
			# The same headers too, but for Date (sorted: the order
			# is net/http's, the same for both).
			curl -s --max-time 5 "${hdr[@]}" -o /dev/null -D - "http://$HERALD_ADDR$path" | tr -d '\r' | grep -v '^Date: ' | sort >"$TMP/h.hdr"
			curl -s --max-time 5 "${hdr[@]}" -o /dev/null -D - "${URLBASE[$s]}$path" | tr -d '\r' | grep -v '^Date: ' | sort >"$TMP/p.hdr"
			cmp -s "$TMP/h.hdr" "$TMP/p.hdr" || {
				diff "$TMP/h.hdr" "$TMP/p.hdr" >&2
				log "case $name: herald and plain send different headers"
				exit 1
			}
		fi
	done
	SIZE[$name]=$(wc -c <"$TMP/h.body")
done
HDR_HERALD=$(curl -s --max-time 5 -H 'Accept-Encoding: gzip' -o /dev/null -D - "http://$HERALD_ADDR/api/v2/summary.json" | wc -c)
HDR_BARE=""
[[ $BARE == 1 ]] && HDR_BARE=$(curl -s --max-time 5 -H 'Accept-Encoding: gzip' -o /dev/null -D - "http://$HOST:$BARE_PORT/api/v2/summary.json" | wc -c)

# --- Idle RSS ------------------------------------------------------------------
# Warm-up: a few requests of each case, then let it settle.
for ((i = 0; i < 20; i++)); do
	for c in "${CASES[@]}"; do
		IFS='|' read -r name path enc <<<"$c"
		hdr=()
		[[ -n $enc ]] && hdr=(-H "Accept-Encoding: $enc")
		curl -s --max-time 5 "${hdr[@]}" -o /dev/null "http://$HERALD_ADDR$path"
	done
done
sleep 1
IDLE_KB=$(rss_kb "$HERALD_PID")
PLAIN_IDLE_KB=$(rss_kb "$PLAIN_PID")
log "idle RSS: herald $(mib "$IDLE_KB") MiB, plainserver $(mib "$PLAIN_IDLE_KB") MiB"

# --- RSS sampler ---------------------------------------------------------------
# Samples herald's VmRSS every 100 ms while the load runs; stops when the
# stop file appears, herald exits, or after an hour.
PEAK_FILE=$TMP/peak.kb
STOP_FILE=$TMP/sampler.stop
(
	max=0
	for ((i = 0; i < 36000; i++)); do
		[[ -e $STOP_FILE ]] && break
		[[ -r /proc/$HERALD_PID/status ]] || break
		v=$(rss_kb "$HERALD_PID")
		if ((v > max)); then
			max=$v
			echo "$max" >"$PEAK_FILE"
		fi
		sleep 0.1
	done
) &
SAMPLER_PID=$!

# --- Load ------------------------------------------------------------------------
# to_ms: wrk's "1.23ms" / "456.78us" / "1.02s" as milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n
	}'
}

# busy_jiffies: CPU time the whole machine spent busy, in clock ticks.
busy_jiffies() {
	local cpu user nice system idle iowait irq softirq steal _
	read -r cpu user nice system idle iowait irq softirq steal _ </proc/stat
	echo $((user + nice + system + irq + softirq + steal))
}

# wait_quiet: before a run, wait (at most QUIET_WAIT seconds) until the
# rest of the machine uses under QUIET_MAX of a core over one second.
wait_quiet() {
	local i b0 b1
	for ((i = 0; i < QUIET_WAIT; i++)); do
		b0=$(busy_jiffies)
		sleep 1
		b1=$(busy_jiffies)
		if awk -v d=$((b1 - b0)) -v hz="$CLK_TCK" -v m="$QUIET_MAX" 'BEGIN { exit !(d / hz < m) }'; then
			return 0
		fi
	done
	log "note: the machine is still busy after ${QUIET_WAIT}s; running anyway"
}

# run_wrk OUT URL ENC PID: one wrk run; prints "rps p50ms p99ms cpu_us_per_request other_cores",
# other_cores being the CPU (in cores) that neither wrk nor the server used:
# the rest of the machine, which disturbs the run.
run_wrk() {
	local out=$1 url=$2 enc=$3 pid=$4 hdr=() t0 t1 b0 b1 w0 w1
	[[ -n $enc ]] && hdr=(-H "Accept-Encoding: $enc")
	wait_quiet
	t0=$(cpu_ticks "$pid")
	b0=$(busy_jiffies)
	w0=$(now_us)
	/usr/bin/time -f '%U %S' -o "$out.time" \
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${hdr[@]}" "$url" >"$out" 2>&1 || {
		cat "$out" >&2
		log "wrk failed against $url"
		exit 1
	}
	w1=$(now_us)
	b1=$(busy_jiffies)
	t1=$(cpu_ticks "$pid")
	local rps p50 p99 n non2xx other
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p50=$(awk '$1 == "50%" { print $2; exit }' "$out")
	p99=$(awk '$1 == "99%" { print $2; exit }' "$out")
	n=$(awk '/ requests in / { print $1; exit }' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	if [[ -z $rps || -z $p50 || -z $p99 || -z $n || $n == 0 ]]; then
		cat "$out" >&2
		log "could not parse wrk output for $url"
		exit 1
	fi
	if [[ -n $non2xx && $non2xx != 0 ]]; then
		cat "$out" >&2
		log "$url answered $non2xx non-2xx responses"
		exit 1
	fi
	if grep -q '^  Socket errors:' "$out"; then
		log "note: $url: $(grep '^  Socket errors:' "$out" | sed 's/^ *//')"
	fi
	other=$(awk -v b=$((b1 - b0)) -v s=$((t1 - t0)) -v hz="$CLK_TCK" -v us=$((w1 - w0)) -v f="$out.time" 'BEGIN {
		getline line < f; split(line, w, " ")
		o = (b - s) / hz - (w[1] + w[2])
		if (o < 0) o = 0
		printf "%.2f", o / (us / 1e6)
	}')
	echo "$rps $(to_ms "$p50") $(to_ms "$p99") $(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }') $other"
}

# median V...: the middle value (the mean of the middle two for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# Results, keyed "server|case": medians over the rounds (with two rounds,
# the mean of the two).
declare -A RPS P50 P99 CPU RAW OTHER RATIO RATIOS NM_RATIO NM_RATIOS BARE_RATIO BARE_RATIOS
RUNS=$((${#CASES[@]} * ${#SERVERS[@]} * ROUNDS))
n=0
for c in "${CASES[@]}"; do
	IFS='|' read -r name path enc <<<"$c"
	declare -A v_rps=() v_p50=() v_p99=() v_cpu=()
	declare -A round_rps=()
	ratios="" nm_ratios="" bare_ratios=""
	others=()
	for ((round = 1; round <= ROUNDS; round++)); do
		for s in "${SERVERS[@]}"; do
			n=$((n + 1))
			log "[$n/$RUNS] $name, $s, run $round ($DURATION)"
			read -r rps p50 p99 cpu other < <(run_wrk "$TMP/wrk-$n.txt" "${URLBASE[$s]}$path" "$enc" "${PIDOF[$s]}")
			[[ -n ${other:-} ]] || exit 1
			v_rps[$s]+="$rps " v_p50[$s]+="$p50 " v_p99[$s]+="$p99 " v_cpu[$s]+="$cpu "
			round_rps[$s]=$rps
			others+=("$other")
		done
		ratios+="$(ratio "${round_rps[herald]}" "${round_rps[plain]}") "
		[[ $NOMETRICS == 1 ]] && nm_ratios+="$(ratio "${round_rps[herald]}" "${round_rps[nometrics]}") "
		[[ $BARE == 1 ]] && bare_ratios+="$(ratio "${round_rps[herald]}" "${round_rps[bare]}") "
	done
	# shellcheck disable=SC2086
	RATIO[$name]=$(median $ratios)
	RATIOS[$name]=${ratios% }
	# shellcheck disable=SC2086
	[[ $NOMETRICS == 1 ]] && NM_RATIO[$name]=$(median $nm_ratios) NM_RATIOS[$name]=${nm_ratios% }
	# shellcheck disable=SC2086
	[[ $BARE == 1 ]] && BARE_RATIO[$name]=$(median $bare_ratios) BARE_RATIOS[$name]=${bare_ratios% }
	for s in "${SERVERS[@]}"; do
		# shellcheck disable=SC2086
		RPS[$s|$name]=$(median ${v_rps[$s]})
		# shellcheck disable=SC2086
		P50[$s|$name]=$(median ${v_p50[$s]})
		# shellcheck disable=SC2086
		P99[$s|$name]=$(median ${v_p99[$s]})
		# shellcheck disable=SC2086
		CPU[$s|$name]=$(median ${v_cpu[$s]})
		RAW[$s|$name]=$(printf '%.0f / ' ${v_rps[$s]})
		RAW[$s|$name]=${RAW[$s|$name]% / }
	done
	OTHER[$name]=$(printf '%s\n' "${others[@]}" | sort -g | tail -1)
done

touch "$STOP_FILE"
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
LOAD_KB=$(cat "$PEAK_FILE" 2>/dev/null || echo 0)
HWM_KB=$(rss_kb "$HERALD_PID" VmHWM)
AFTER_KB=$(rss_kb "$HERALD_PID")
PLAIN_HWM_KB=$(rss_kb "$PLAIN_PID" VmHWM)
LOAD_AFTER=$(loadavg)

# --- Report ----------------------------------------------------------------------
pf() { if [[ $1 == 1 ]]; then echo PASS; else echo FAIL; fi; }
ratio_ok=1
min_ratio=""
for c in "${CASES[@]}"; do
	IFS='|' read -r name _ _ <<<"$c"
	awk -v r="${RATIO[$name]}" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }' || ratio_ok=0
	if [[ -z $min_ratio ]] || awk -v r="${RATIO[$name]}" -v m="$min_ratio" 'BEGIN { exit !(r < m) }'; then
		min_ratio=${RATIO[$name]}
	fi
done
idle_ok=$((IDLE_KB <= MAX_IDLE_KB ? 1 : 0))
load_ok=$((LOAD_KB <= MAX_LOAD_KB ? 1 : 0))
start_ok=$((START_MS <= MAX_START_MS ? 1 : 0))
ALL=0
((ratio_ok && idle_ok && load_ok && start_ok)) && ALL=1

mkdir -p bench-results
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=bench-results/bench-$STAMP.md
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
[[ -n $(git status --porcelain 2>/dev/null | head -1) ]] && dirty=" (working tree has uncommitted changes)"
{
	echo "# Herald public side vs plain net/http, $(date -u +'%Y-%m-%d %H:%M UTC')"
	echo
	echo "commit $commit$dirty; $(go version | awk '{print $3}'); $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo));" \
		"\`wrk -t$THREADS -c$CONNS -d$DURATION --latency\`, servers alternated (${SERVERS[*]}) $ROUNDS times per case, $(if ((ROUNDS == 2)); then echo "mean of the two runs"; else echo "median of the $ROUNDS runs"; fi);" \
		"the ratio is the $(if ((ROUNDS == 2)); then echo "mean"; else echo "median"; fi) of each round's herald ÷ plain (the round's ratios in brackets);" \
		"wrk and the servers share the machine. Load average before $LOAD_BEFORE, after $LOAD_AFTER."
	echo "Data: \`herald demo-data\` on a fresh SQLite file (5 components, 90 days of history, 3 active incidents of 20 updates, 1 maintenance)."
	echo
	echo "plain: a net/http handler sending Herald's exact response (status line, headers and body) from memory."
	echo
	echo "| case | plain req/s | herald req/s | ratio (rounds) | herald p50 | herald p99 | plain p50 | plain p99 |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for c in "${CASES[@]}"; do
		IFS='|' read -r name _ _ <<<"$c"
		printf '| %s | %.0f | %.0f | %.3f (%s) | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n' "$name" \
			"${RPS[plain|$name]}" "${RPS[herald|$name]}" "${RATIO[$name]}" "${RATIOS[$name]}" "${P50[herald|$name]}" "${P99[herald|$name]}" \
			"${P50[plain|$name]}" "${P99[plain|$name]}"
	done
	if [[ $BARE == 1 ]]; then
		echo
		echo "Not a target: herald against bare, a plain server sending the same bodies with only Content-Type, Content-Encoding and Content-Length" \
			"(header block for summary gzip: herald and plain $HDR_HERALD B, bare $HDR_BARE B; the difference is what Herald's headers cost on the wire, wrk's reading of them included):"
		echo
		echo "| case | bare req/s | plain req/s | herald req/s | herald ÷ bare (rounds) | plain ÷ bare |"
		echo "|---|---:|---:|---:|---:|---:|"
		for c in "${CASES[@]}"; do
			IFS='|' read -r name _ _ <<<"$c"
			printf '| %s | %.0f | %.0f | %.0f | %.3f (%s) | %.3f |\n' "$name" \
				"${RPS[bare|$name]}" "${RPS[plain|$name]}" "${RPS[herald|$name]}" "${BARE_RATIO[$name]}" "${BARE_RATIOS[$name]}" \
				"$(ratio "${RPS[plain|$name]}" "${RPS[bare|$name]}")"
		done
	fi
	if [[ $NOMETRICS == 1 ]]; then
		echo
		echo "What counting requests costs (herald against the same build with -tags nometrics, no latency histogram):"
		echo
		echo "| case | nometrics req/s | herald req/s | herald ÷ nometrics (rounds) | nometrics CPU µs/req | herald CPU µs/req | nometrics p99 | herald p99 |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		for c in "${CASES[@]}"; do
			IFS='|' read -r name _ _ <<<"$c"
			printf '| %s | %.0f | %.0f | %.3f (%s) | %.1f | %.1f | %.2f ms | %.2f ms |\n' "$name" \
				"${RPS[nometrics|$name]}" "${RPS[herald|$name]}" "${NM_RATIO[$name]}" "${NM_RATIOS[$name]}" \
				"${CPU[nometrics|$name]}" "${CPU[herald|$name]}" "${P99[nometrics|$name]}" "${P99[herald|$name]}"
		done
	fi
	echo
	sizes=()
	for c in "${CASES[@]}"; do
		IFS='|' read -r name _ _ <<<"$c"
		sizes+=("$name ${SIZE[$name]} B")
	done
	echo "Response bodies (identical from every server): $(IFS=';'; echo "${sizes[*]}" | sed 's/;/; /g')." \
		"Headers: plain sends Herald's (checked, but for Date); header block for summary gzip $HDR_HERALD B."
	echo
	echo "| target | measured | limit | result |"
	echo "|---|---:|---:|---|"
	echo "| throughput vs plain (worst case) | $min_ratio | ≥ $MIN_RATIO | $(pf $ratio_ok) |"
	echo "| time to ready (start → /readyz 200) | ${START_MS} ms | ≤ ${MAX_START_MS} ms | $(pf $start_ok) |"
	echo "| idle RSS (after start and warm-up) | $(mib "$IDLE_KB") MiB | ≤ $(mib "$MAX_IDLE_KB") MiB | $(pf $idle_ok) |"
	echo "| peak RSS under load (VmRSS, 100 ms samples) | $(mib "$LOAD_KB") MiB | ≤ $(mib "$MAX_LOAD_KB") MiB | $(pf $load_ok) |"
	echo
	echo "Overall: **$(pf $ALL)**"
	echo
	echo "Also: herald VmHWM (whole life, including start) $(mib "$HWM_KB") MiB; RSS after the load $(mib "$AFTER_KB") MiB;" \
		"plainserver idle $(mib "$PLAIN_IDLE_KB") MiB, VmHWM $(mib "$PLAIN_HWM_KB") MiB."
	echo
	echo "Server CPU time per request (user+sys over the run / requests served; less sensitive to other load than req/s)," \
		"and the most CPU the rest of the machine (neither wrk nor the server) took during any run of the case:"
	echo
	if [[ $BARE == 1 ]]; then
		echo "| case | bare µs | plain µs | herald µs | herald ÷ plain CPU | other load |"
		echo "|---|---:|---:|---:|---:|---:|"
	else
		echo "| case | plain µs | herald µs | herald ÷ plain CPU | other load |"
		echo "|---|---:|---:|---:|---:|"
	fi
	noisy=0
	for c in "${CASES[@]}"; do
		IFS='|' read -r name _ _ <<<"$c"
		awk -v o="${OTHER[$name]}" 'BEGIN { exit !(o > 0.25) }' && noisy=1
		if [[ $BARE == 1 ]]; then
			printf '| %s | %.1f | %.1f | %.1f | %.2f | %.2f cores |\n' "$name" "${CPU[bare|$name]}" "${CPU[plain|$name]}" \
				"${CPU[herald|$name]}" "$(ratio "${CPU[herald|$name]}" "${CPU[plain|$name]}")" "${OTHER[$name]}"
		else
			printf '| %s | %.1f | %.1f | %.2f | %.2f cores |\n' "$name" "${CPU[plain|$name]}" "${CPU[herald|$name]}" \
				"$(ratio "${CPU[herald|$name]}" "${CPU[plain|$name]}")" "${OTHER[$name]}"
		fi
	done
	echo
	if ((noisy)); then
		echo "**Warning:** other processes took more than a quarter of a core during some runs; their req/s and latencies are disturbed. Re-run on a quiet machine before trusting a ratio."
		echo
	fi
	echo "Raw req/s per run (in order):"
	for c in "${CASES[@]}"; do
		IFS='|' read -r name _ _ <<<"$c"
		line="- $name:"
		for s in "${SERVERS[@]}"; do
			line+=" $s ${RAW[$s|$name]};"
		done
		echo "${line%;}"
	done
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
((ALL == 1))
