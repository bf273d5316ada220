#!/usr/bin/env bash
# Compare sysbench through shardgate with MariaDB direct and with a bare TCP
# relay (bench/relay), on this machine, in one run.
#
#   bench/sysbench.sh                 # 10 s per run, 1 round
#   TIME=20 ROUNDS=2 THREADS=8 bench/sysbench.sh
#   THREADS=1 bench/sysbench.sh ; THREADS=32 bench/sysbench.sh   # latency at low load, behaviour at high
#   REPLICA=1 TABLES=4 bench/sysbench.sh   # shardgate's slave is a real replica
#   BASELINE=b394166 bench/sysbench.sh     # also an older shardgate, side by side
#   ONLY=oltp_point_select bench/sysbench.sh  # workloads whose name contains ONLY
#   ONLY='point_select|skip_trx' bench/sysbench.sh  # … or any of several
#   MODES=disable bench/sysbench.sh        # only these --db-ps-mode values
#   SHARDED=1 bench/sysbench.sh            # also shardgate with sbtest1 sharded by id % 2 over
#                                          #   two databases (point_select, read_only and
#                                          #   read_only --skip_trx, both modes)
#   REPLICA=1 RYW=causal BASELINE=HEAD BASE_RYW=session ONLY=skip_trx bench/sysbench.sh
#                                          # props.readYourWrites of shardgate (RYW, default off)
#                                          #   and of the baseline (BASE_RYW, default RYW): one
#                                          #   mode beside another in one run; a RYW other than
#                                          #   off adds oltp_read_write --skip_trx=on (autocommit
#                                          #   writes between reads; duplicate keys of its
#                                          #   racing DELETE+INSERT ignored) and prints the reads the
#                                          #   instances ran per data source
#   BASELINE=HEAD BASE_SED='s/database: sbtest}/database: sbtest, healthCheckInterval: 10ms}/' bench/sysbench.sh
#                                          # BASE_SED edits the baseline's config (here: a health
#                                          #   check every 10 ms, 200x the default, to bound what
#                                          #   the monitor costs)
#   PROFILE=/tmp/prof bench/sysbench.sh    # CPU profile of the current shardgate:
#                                          #   go tool pprof -top /tmp/prof/shardgate.cpu
#
# Workloads: oltp_point_select, oltp_read_only, oltp_read_only --skip_trx=on,
# oltp_read_write; each with sysbench's default prepared statements
# (--db-ps-mode=auto) and with --db-ps-mode=disable; targets alternate
# direct / relay / shardgate so drifts hit all three alike.
#
# shardgate runs with a master and a slave data source that are the same
# MariaDB, so all three targets do the same database work and the ratios
# measure the hop alone. With REPLICA=1 the slave is a second MariaDB
# replicating from the first; direct and relay then run the workloads that
# shardgate sends to the slave (oltp_point_select and --skip_trx=on: reads
# outside transactions) against the replica too (a second relay in front of
# it), so all targets still do the same database work; SAME_WORK=0 keeps
# direct and relay on the master for every workload (different work).
# With REPLICA=1 the statements shardgate ran per data source are printed
# at the end, to show which server did the work. CPU-us/query is utime+stime of the proxy (or relay)
# process over the queries sysbench reports. With BASELINE=<git revision>
# a shardgate built from that revision runs beside the current one (same
# config, its own embedded registry) as a fourth target, for before/after
# figures measured in one run.
set -euo pipefail

TIME=${TIME:-10}
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-8}
TABLE_SIZE=${TABLE_SIZE:-100000}
TABLES=${TABLES:-1}
REPLICA=${REPLICA:-0}
BASELINE=${BASELINE:-}
MODES=${MODES:-auto disable}
PROFILE=${PROFILE:-}
SHARDED=${SHARDED:-0}
RYW=${RYW:-off}
SAME_WORK=${SAME_WORK:-1}
BASE_RYW=${BASE_RYW:-$RYW}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/shardgate-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$PROFILE" ] && [ -f "$W/shardgate.cpu" ]; then
		mkdir -p "$PROFILE" && cp "$W/shardgate.cpu" "$W/shardgate" "$PROFILE/" && echo "== CPU profile: go tool pprof -top $PROFILE/shardgate $PROFILE/shardgate.cpu"
		[ -f "$W/sharded.cpu" ] && cp "$W/sharded.cpu" "$PROFILE/" && echo "== sharded: go tool pprof -top $PROFILE/shardgate $PROFILE/sharded.cpu"
	fi
	rm -rf "$W"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DB_PORT=$(freeport); RELAY_PORT=$(freeport); SG_PORT=$(freeport); REG_C=$(freeport); REG_P=$(freeport); REPL_PORT=$(freeport)
BASE_PORT=$(freeport); BREG_C=$(freeport); BREG_P=$(freeport); ADM_PORT=$(freeport); BADM_PORT=$(freeport)
SH_PORT=$(freeport); SREG_C=$(freeport); SREG_P=$(freeport); RRELAY_PORT=$(freeport)
PW=benchpw

echo "== building shardgate and relay"
(cd "$ROOT" && go build -o "$W/shardgate" ./cmd/shardgate && go build -o "$W/relay" ./bench/relay)
TARGETS=(direct relay shardgate)
if [ -n "$BASELINE" ]; then
	echo "== building the baseline shardgate at $BASELINE"
	git -C "$ROOT" worktree add -q --detach "$W/base" "$BASELINE"
	(cd "$W/base" && go build -o "$W/shardgate-base" ./cmd/shardgate)
	git -C "$ROOT" worktree remove --force "$W/base"
	TARGETS+=(baseline)
fi
if [ "$SHARDED" = 1 ]; then
	TARGETS+=(sharded)
	[ -n "${ONLY:-}" ] || ONLY_SHARDED=1
fi

# start_db DIR PORT SERVER_ID: a MariaDB (with a binary log when REPLICA=1), root password set.
start_db() {
	local d=$1 port=$2 id=$3
	mkdir -p "$d"
	cat > "$d/my.cnf" <<CNF
[mariadbd]
datadir=$d/data
port=$port
bind-address=127.0.0.1
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
log-error=$d/error.log
user=root
skip-name-resolve
server-id=$id
innodb-buffer-pool-size=256M
innodb-flush-log-at-trx-commit=2
max-connections=1000
max-prepared-stmt-count=100000
CNF
	# Binary logs only for replication, so one-server runs compare with earlier ones.
	[ "$REPLICA" = 1 ] && printf 'log-bin=%s/data/mysql-bin\nbinlog-format=ROW\nsync-binlog=0\n' "$d" >> "$d/my.cnf"
	mariadb-install-db --defaults-file="$d/my.cnf" --auth-root-authentication-method=normal --skip-test-db >/dev/null
	mariadbd --defaults-file="$d/my.cnf" & PIDS+=($!)
	for _ in $(seq 100); do mariadb-admin --no-defaults --socket="$d/mysqld.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
	mariadb --no-defaults --socket="$d/mysqld.sock" -uroot -e "
  ALTER USER 'root'@'localhost' IDENTIFIED BY '$PW';
  ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$PW';"
}
echo "== starting MariaDB on $DB_PORT"
start_db "$W/db" "$DB_PORT" 1
SLAVE_PORT=$DB_PORT
if [ "$REPLICA" = 1 ]; then
	echo "== starting a replica on $REPL_PORT"
	mariadb --no-defaults --socket="$W/db/mysqld.sock" -uroot -p$PW -e "
  CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'replpw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';"
	read -r BFILE BPOS < <(mariadb --no-defaults --socket="$W/db/mysqld.sock" -uroot -p$PW -N -e "SHOW MASTER STATUS" | awk '{print $1, $2}')
	start_db "$W/replica" "$REPL_PORT" 2
	mariadb --no-defaults --socket="$W/replica/mysqld.sock" -uroot -p$PW -e "
  CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$DB_PORT, MASTER_USER='repl', MASTER_PASSWORD='replpw',
    MASTER_LOG_FILE='$BFILE', MASTER_LOG_POS=$BPOS, MASTER_CONNECT_RETRY=1;
  START SLAVE; SET GLOBAL read_only = 1;"
	SLAVE_PORT=$REPL_PORT
fi
mariadb --no-defaults --socket="$W/db/mysqld.sock" -uroot -p$PW -e "CREATE DATABASE sbtest"

SB=(sysbench --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=root --mysql-password=$PW
    --mysql-db=sbtest --tables=$TABLES --table-size=$TABLE_SIZE)
echo "== sysbench prepare ($TABLE_SIZE rows)"
"${SB[@]}" --mysql-port=$DB_PORT oltp_read_write prepare >/dev/null
if [ "$REPLICA" = 1 ]; then
	# Wait until the replica has the tables and rows.
	for _ in $(seq 600); do
		n=$(mariadb --no-defaults --socket="$W/replica/mysqld.sock" -uroot -p$PW -N -e "SELECT COUNT(*) FROM sbtest.sbtest$TABLES" 2>/dev/null || echo 0)
		[ "$n" = "$TABLE_SIZE" ] && break; sleep 0.5
	done
	echo "   replica has $n rows in sbtest$TABLES"
fi

"$W/relay" -listen 127.0.0.1:$RELAY_PORT -target 127.0.0.1:$DB_PORT & RELAY_PID=$!; PIDS+=($RELAY_PID)
RRELAY_PID=$RELAY_PID
if [ "$REPLICA" = 1 ] && [ "$SAME_WORK" = 1 ]; then
	"$W/relay" -listen 127.0.0.1:$RRELAY_PORT -target 127.0.0.1:$REPL_PORT & RRELAY_PID=$!; PIDS+=($RRELAY_PID)
	for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$RRELAY_PORT) 2>/dev/null && break; sleep 0.1; done
fi
cat > "$W/proxy.yaml" <<YAML
listen: 127.0.0.1:$SG_PORT
users: [{name: root, password: $PW}]
dataSources:
  master: {url: "127.0.0.1:$DB_PORT", username: root, password: $PW, database: sbtest}
  slave:  {url: "127.0.0.1:$SLAVE_PORT", username: root, password: $PW, database: sbtest}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave]}
props: {readYourWrites: $RYW}
admin: {listen: "127.0.0.1:$ADM_PORT"}
# A private embedded registry under the bench's temp dir; the file's config wins.
orchestration:
  name: bench
  overwrite: true
  registry:
    type: embedded
    embedded: {dataDir: "$W/registry", clientURL: "http://127.0.0.1:$REG_C", peerURL: "http://127.0.0.1:$REG_P"}
YAML
SG_FLAGS=()
[ -n "$PROFILE" ] && SG_FLAGS=(--cpuprofile "$W/shardgate.cpu")
(cd "$W" && exec "$W/shardgate" proxy --config "$W/proxy.yaml" "${SG_FLAGS[@]}" 2>"$W/shardgate.log") & SG_PID=$!; PIDS+=($SG_PID)
for _ in $(seq 300); do (echo > /dev/tcp/127.0.0.1/$SG_PORT) 2>/dev/null && break; sleep 0.1; done
BASE_PID=0
if [ -n "$BASELINE" ]; then
	sed -e "s/127.0.0.1:$SG_PORT/127.0.0.1:$BASE_PORT/" -e "s/name: bench/name: bench-base/" -e "s|$W/registry|$W/registry-base|" \
		-e "s/:$REG_C\"/:$BREG_C\"/" -e "s/:$REG_P\"/:$BREG_P\"/" -e "s/readYourWrites: $RYW}/readYourWrites: $BASE_RYW}/" \
		-e "s/:$ADM_PORT\"/:$BADM_PORT\"/" -e "${BASE_SED:-s/^//}" "$W/proxy.yaml" > "$W/proxy-base.yaml"
	mkdir -p "$W/basedir"
	(cd "$W/basedir" && exec "$W/shardgate-base" proxy --config "$W/proxy-base.yaml" 2>"$W/shardgate-base.log") & BASE_PID=$!; PIDS+=($BASE_PID)
	for _ in $(seq 300); do (echo > /dev/tcp/127.0.0.1/$BASE_PORT) 2>/dev/null && break; sleep 0.1; done
fi
SHARD_PID=0
if [ "$SHARDED" = 1 ]; then
	echo "== sharding sbtest1..$TABLES by id % 2 over databases sb0 and sb1"
	for db in 0 1; do
		sql="CREATE DATABASE sb$db;"
		for i in $(seq "$TABLES"); do
			sql="$sql CREATE TABLE sb$db.sbtest$i LIKE sbtest.sbtest$i; INSERT INTO sb$db.sbtest$i SELECT * FROM sbtest.sbtest$i WHERE id % 2 = $db;"
		done
		mariadb --no-defaults --socket="$W/db/mysqld.sock" -uroot -p$PW -e "$sql"
	done
	if [ "$REPLICA" = 1 ]; then
		for _ in $(seq 600); do
			n=$(mariadb --no-defaults --socket="$W/replica/mysqld.sock" -uroot -p$PW -N -e "SELECT COUNT(*) FROM sb1.sbtest$TABLES" 2>/dev/null || echo 0)
			[ "$n" = "$((TABLE_SIZE / 2))" ] && break; sleep 0.5
		done
	fi
	{
		echo "listen: 127.0.0.1:$SH_PORT"
		echo "users: [{name: root, password: $PW}]"
		echo "dataSources:"
		for db in 0 1; do
			echo "  m$db: {url: \"127.0.0.1:$DB_PORT\", username: root, password: $PW, database: sb$db}"
			echo "  s$db: {url: \"127.0.0.1:$SLAVE_PORT\", username: root, password: $PW, database: sb$db}"
		done
		echo "shardingRule:"
		echo "  tables:"
		for i in $(seq "$TABLES"); do
			echo "    sbtest$i: {actualDataNodes: 'ms_\${0..1}.sbtest$i', databaseStrategy: {inline: {shardingColumn: id, algorithmExpression: 'ms_\${id % 2}'}}}"
		done
		echo "  defaultDataSourceName: ms_0"
		echo "  masterSlaveRules:"
		echo "    ms_0: {masterDataSourceName: m0, slaveDataSourceNames: [s0]}"
		echo "    ms_1: {masterDataSourceName: m1, slaveDataSourceNames: [s1]}"
		echo "props: {readYourWrites: off}"
		echo "orchestration:"
		echo "  name: bench-sharded"
		echo "  overwrite: true"
		echo "  registry:"
		echo "    type: embedded"
		echo "    embedded: {dataDir: \"$W/registry-sharded\", clientURL: \"http://127.0.0.1:$SREG_C\", peerURL: \"http://127.0.0.1:$SREG_P\"}"
	} > "$W/proxy-sharded.yaml"
	mkdir -p "$W/shdir"
	SH_FLAGS=()
	[ -n "$PROFILE" ] && SH_FLAGS=(--cpuprofile "$W/sharded.cpu")
	(cd "$W/shdir" && exec "$W/shardgate" proxy --config "$W/proxy-sharded.yaml" "${SH_FLAGS[@]}" 2>"$W/shardgate-sharded.log") & SHARD_PID=$!; PIDS+=($SHARD_PID)
	for _ in $(seq 300); do (echo > /dev/tcp/127.0.0.1/$SH_PORT) 2>/dev/null && break; sleep 0.1; done
fi
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$RELAY_PORT) 2>/dev/null && break; sleep 0.1; done

# cpu_us PID: utime+stime of a process in microseconds.
cpu_us() { awk -v t="$(getconf CLK_TCK)" '{print ($14+$15)*1000000/t}' "/proc/$1/stat"; }
# syscalls PID: read+write system calls of a process so far (all its threads).
syscalls() { awk '/^syscr:|^syscw:/ {n += $2} END {print n}' "/proc/$1/io"; }

# run TARGET PORT PID 'WORKLOAD [OPTIONS]' PSMODE: prints "qps errors
# cpu_us_per_query syscalls_per_query p95_latency_ms"
run() {
	local port=$2 pid=$3 ps=$5
	local name opts
	read -r name opts <<< "$4"
	local c0=0 c1=0 s0=0 s1=0
	[ "$pid" != 0 ] && c0=$(cpu_us "$pid") && s0=$(syscalls "$pid")
	local out
	out=$("${SB[@]}" --mysql-port=$port --threads=$THREADS --time=$TIME --db-ps-mode=$ps $opts "$name" run 2>&1) || { echo "$out" >&2; return 1; }
	[ "$pid" != 0 ] && c1=$(cpu_us "$pid") && s1=$(syscalls "$pid")
	local q qps err p95
	q=$(echo "$out" | awk '/queries:/ {print $2; exit}')
	qps=$(echo "$out" | awk '/queries:/ {gsub(/\(/,"",$3); print $3; exit}')
	err=$(echo "$out" | awk '/ignored errors:/ {print $3; exit}')
	p95=$(echo "$out" | awk '/95th percentile:/ {print $3; exit}')
	echo "$qps $err $(awk -v a="$c0" -v b="$c1" -v q="$q" 'BEGIN{ if (q>0 && b>a) printf "%.1f", (b-a)/q; else print "-"}') $(awk -v a="$s0" -v b="$s1" -v q="$q" 'BEGIN{ if (q>0 && b>a) printf "%.2f", (b-a)/q; else print "-"}') ${p95:--}"
}

declare -A QPS ERR CPU P95
WORKLOADS=("oltp_point_select" "oltp_read_only" "oltp_read_only --skip_trx=on" "oltp_read_write")
if [ "$RYW" != off ] || [ "$BASE_RYW" != off ]; then WORKLOADS+=("oltp_read_write --skip_trx=on --mysql-ignore-errors=1062,1213,1020,1205"); fi
# Sharded: prepared statements that run on several nodes are refused by the
# proxy (read_only runs in text mode only).
[ "${ONLY_SHARDED:-0}" = 1 ] && WORKLOADS=("oltp_point_select" "oltp_read_only" "oltp_read_only --skip_trx=on")
if [ -n "${ONLY:-}" ]; then
	keep=()
	IFS='|' read -ra alts <<< "$ONLY"
	for wl in "${WORKLOADS[@]}"; do
		for a in "${alts[@]}"; do [[ "$wl" == *"$a"* ]] && { keep+=("$wl"); break; }; done
	done
	[ ${#keep[@]} -gt 0 ] || { echo "ONLY=$ONLY matches no workload" >&2; exit 1; }
	WORKLOADS=("${keep[@]}")
fi
echo "== $ROUNDS round(s), $TIME s per run, $THREADS threads, $TABLES table(s), replica: $REPLICA (same work: $SAME_WORK)"
for round in $(seq "$ROUNDS"); do
	for wl in "${WORKLOADS[@]}"; do
		for ps in $MODES; do
			for target in "${TARGETS[@]}"; do
				# Reads outside transactions: shardgate sends them to the slave.
				on_slave=0
				[ "$REPLICA" = 1 ] && [ "$SAME_WORK" = 1 ] && [[ "$wl" == oltp_point_select* || "$wl" == *skip_trx=on* ]] && [[ "$wl" != oltp_read_write* ]] && on_slave=1
				case $target in
					direct) port=$DB_PORT pid=0; [ $on_slave = 1 ] && port=$REPL_PORT ;;
					relay) port=$RELAY_PORT pid=$RELAY_PID; [ $on_slave = 1 ] && port=$RRELAY_PORT pid=$RRELAY_PID ;;
					shardgate) port=$SG_PORT pid=$SG_PID ;;
					baseline) port=$BASE_PORT pid=$BASE_PID ;;
					sharded) port=$SH_PORT pid=$SHARD_PID ;;
				esac
				if ! line=$(run $target $port $pid "$wl" $ps) || [ -z "$line" ]; then
					echo "measurement failed: $target $wl ps=$ps (pid $pid alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no))" >&2
					exit 1
				fi
				read -r qps err cpu sysq p95 <<< "$line"
				key="$wl|$ps|$target"
				QPS[$key]=$(awk -v a="${QPS[$key]:-0}" -v b="$qps" 'BEGIN{print a+b}')
				ERR[$key]=$(( ${ERR[$key]:-0} + ${err%%.*} ))
				CPU[$key]="${CPU[$key]:-}$cpu "
				P95[$key]="${P95[$key]:-}$p95 "
				printf '  round %d %-30s ps=%-7s %-9s %9.0f qps  errors %s  cpu-us/q %s  syscalls/q %s  p95 %s ms\n' "$round" "$wl" "$ps" "$target" "$qps" "$err" "$cpu" "$sysq" "$p95"
			done
		done
	done
done

echo
echo "== summary (means over $ROUNDS round(s); $THREADS threads; $TABLES table(s); replica $REPLICA; $(nproc) cores; errors: sysbench's ignored errors, e.g. deadlocks)"
printf '%-30s %-8s %9s %9s %9s %8s %8s %10s %10s %9s %9s %9s %9s\n' workload ps-mode direct relay shardgate sg/direct sg/relay "sg cpu-us" "relay cpu" "sg errs" "d+r errs" "sg p95ms" "rl p95ms"
for wl in "${WORKLOADS[@]}"; do
	for ps in $MODES; do
		d=${QPS["$wl|$ps|direct"]}; r=${QPS["$wl|$ps|relay"]}; s=${QPS["$wl|$ps|shardgate"]}
		e=${ERR["$wl|$ps|shardgate"]}; o=$(( ${ERR["$wl|$ps|direct"]} + ${ERR["$wl|$ps|relay"]} ))
		awk -v wl="$wl" -v ps="$ps" -v d="$d" -v r="$r" -v s="$s" -v n="$ROUNDS" -v sc="${CPU["$wl|$ps|shardgate"]}" -v rc="${CPU["$wl|$ps|relay"]}" -v e="$e" -v o="$o" \
			-v sp="${P95["$wl|$ps|shardgate"]}" -v rp="${P95["$wl|$ps|relay"]}" '
			function mean(list,   a, k, i, t, c) { k = split(list, a, " "); for (i = 1; i <= k; i++) if (a[i] != "-") { t += a[i]; c++ }; return c ? sprintf("%.1f", t / c) : "-" }
			function mean2(list,   a, k, i, t, c) { k = split(list, a, " "); for (i = 1; i <= k; i++) if (a[i] != "-") { t += a[i]; c++ }; return c ? sprintf("%.2f", t / c) : "-" }
			BEGIN { printf "%-30s %-8s %9.0f %9.0f %9.0f %8.2f %8.2f %10s %10s %9d %9d %9s %9s\n", wl, ps, d/n, r/n, s/n, s/d, s/r, mean(sc), mean(rc), e, o, mean2(sp), mean2(rp) }'
	done
done
if [ -n "$BASELINE" ]; then
	echo
	echo "== baseline $BASELINE beside the current shardgate (same run)"
	printf '%-30s %-8s %9s %9s %9s %8s %10s %10s\n' workload ps-mode baseline shardgate sg/base base/relay "base cpu" "sg cpu-us"
	for wl in "${WORKLOADS[@]}"; do
		for ps in $MODES; do
			r=${QPS["$wl|$ps|relay"]}; s=${QPS["$wl|$ps|shardgate"]}; b=${QPS["$wl|$ps|baseline"]}
			awk -v wl="$wl" -v ps="$ps" -v r="$r" -v s="$s" -v b="$b" -v n="$ROUNDS" -v sc="${CPU["$wl|$ps|shardgate"]}" -v bc="${CPU["$wl|$ps|baseline"]}" '
				function mean(list,   a, k, i, t, c) { k = split(list, a, " "); for (i = 1; i <= k; i++) if (a[i] != "-") { t += a[i]; c++ }; return c ? sprintf("%.1f", t / c) : "-" }
				BEGIN { printf "%-30s %-8s %9.0f %9.0f %8.2f %8.2f %10s %10s\n", wl, ps, b/n, s/n, s/b, b/r, mean(bc), mean(sc) }'
		done
	done
fi
if [ "$SHARDED" = 1 ]; then
	echo
	echo "== shardgate with sbtest sharded over two groups beside shardgate unsharded (same run)"
	printf '%-30s %-8s %9s %9s %9s %8s %10s %10s %9s\n' workload ps-mode unsharded sharded sh/sg sh/relay "sg cpu-us" "sh cpu-us" "sh errs"
	for wl in "${WORKLOADS[@]}"; do
		for ps in $MODES; do
			r=${QPS["$wl|$ps|relay"]}; s=${QPS["$wl|$ps|shardgate"]}; h=${QPS["$wl|$ps|sharded"]:-}
			[ -n "$h" ] || continue
			awk -v wl="$wl" -v ps="$ps" -v r="$r" -v s="$s" -v h="$h" -v n="$ROUNDS" -v sc="${CPU["$wl|$ps|shardgate"]}" -v hc="${CPU["$wl|$ps|sharded"]}" -v e="${ERR["$wl|$ps|sharded"]}" '
				function mean(list,   a, k, i, t, c) { k = split(list, a, " "); for (i = 1; i <= k; i++) if (a[i] != "-") { t += a[i]; c++ }; return c ? sprintf("%.1f", t / c) : "-" }
				BEGIN { printf "%-30s %-8s %9.0f %9.0f %8.2f %8.2f %10s %10s %9d\n", wl, ps, s/n, h/n, h/s, h/r, mean(sc), mean(hc), e }'
		done
	done
	if grep -qi "panic\|ERROR" "$W/shardgate-sharded.log"; then echo "== sharded shardgate log:"; tail -20 "$W/shardgate-sharded.log"; fi
fi
if [ "$RYW" != off ] || [ "$BASE_RYW" != off ] || [ "$REPLICA" = 1 ]; then
	# Statements each instance ran per data source, from its /metrics.
	routed() {
		python3 - "$1" <<'PY'
import sys, urllib.request, collections
n = collections.Counter()
for line in urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode().splitlines():
    if line.startswith("shardgate_statements_total{"):
        ds = line.split('datasource="')[1].split('"')[0]
        n[ds] += float(line.rsplit(" ", 1)[1])
print(", ".join("%s %d" % kv for kv in sorted(n.items())))
PY
	}
	echo "== statements per data source over the whole run: shardgate (readYourWrites: $RYW): $(routed $ADM_PORT)"
	if [ -n "$BASELINE" ]; then echo "   baseline (readYourWrites: $BASE_RYW): $(routed $BADM_PORT)"; fi
fi
if grep -qi "panic\|ERROR" "$W/shardgate.log"; then echo "== shardgate log:"; tail -20 "$W/shardgate.log"; fi
