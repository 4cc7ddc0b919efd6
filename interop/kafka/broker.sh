# Single-node Apache Kafka (KRaft, broker+controller in one JVM) on loopback, for interop tests.
# Source it, then:
#   broker_init DIR    write DIR/server.properties, format DIR/data (the log.dir) and DIR/meta
#   broker_start DIR   start the broker in the background, log to DIR/broker.log, wait until it serves
#   broker_stop DIR    SIGTERM, wait for a clean exit
# Ports 19092 (PLAINTEXT) and 19093 (CONTROLLER). Jars: $KAFKA_LIB (default target/lib beside this file,
# filled by `mvn -q dependency:copy-dependencies -DoutputDirectory=target/lib` in this folder).
# Functions return non-zero on failure and print why; they never exit the calling shell themselves,
# and are safe under `set -euo pipefail` (no bare `a && b` whose failure would trip errexit).

BROKER_SH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${KAFKA_LIB:=$BROKER_SH_DIR/target/lib}"
# A fixed cluster id keeps meta.properties identical from run to run (any 22-char base64 UUID works).
: "${KAFKA_CLUSTER_ID:=sxdeXWjuSPqlyyGCLF97Gw}"
# Small heap: the machine is shared. The dedupe buffer below is sized to fit in it.
: "${KAFKA_JVM_OPTS:=-Xms256m -Xmx768m -XX:+UseG1GC}"
BROKER_PORT=19092
CONTROLLER_PORT=19093

_broker_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# These two only print (status 0), so that under errexit the caller's `return 1` is what fails.
_broker_fail() { echo "broker.sh: $*" >&2; }
_broker_tail() { echo "---- last lines of $1/broker.log ----" >&2; tail -n 40 "$1/broker.log" >&2 || true; }

broker_init() {
  local dir="${1:?usage: broker_init DIR}"
  mkdir -p "$dir" && dir="$(cd "$dir" && pwd)" || return 1
  if [[ -e $dir/data ]]; then _broker_fail "$dir/data exists; broker_init wants a fresh DIR"; return 1; fi
  if ! ls "$KAFKA_LIB"/kafka_2.13-*.jar >/dev/null 2>&1; then
    _broker_fail "no Kafka jars in $KAFKA_LIB (run mvn, see above)"; return 1
  fi
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
# Kafka 4.x dynamic quorum (KIP-853): bootstrap servers here, and "format --standalone" below
# (controller.quorum.voters would be the static alternative; the two must not be mixed).
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
# The log.dir under test holds only partitions: the KRaft metadata log (__cluster_metadata-0) goes
# to its own directory, so a copy of data/ is a plain Kafka log.dir.
log.dirs=$dir/data
metadata.log.dir=$dir/meta

# Single node: every internal topic at replication 1.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=50
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
num.partitions=1
# Typos in a test should fail, not silently make a topic.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0

# Never delete test data by age: feed uses timestamps in the past (default retention is 7 days).
log.retention.ms=-1
# Cleaner: check for work every 500 ms (default 15 s); 32 MiB dedupe buffer fits the small heap.
log.cleaner.backoff.ms=500
log.cleaner.dedupe.buffer.size=33554432
# Segments the cleaner (or retention) replaced are renamed *.deleted and removed after this delay
# (default 60 s); keep it short so a copied log.dir rarely carries them.
log.segment.delete.delay.ms=1000
# Start the log manager's periodic tasks (checkpoints, retention) at once rather than after 30 s.
log.initial.task.delay.ms=0
EOF
  local out
  out="$(java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
          --config "$dir/server.properties" --cluster-id "$KAFKA_CLUSTER_ID" --standalone 2>&1)" \
    || { echo "$out" >&2; _broker_fail "storage format failed"; return 1; }
  echo "$out"
}

broker_start() {
  local dir="${1:?usage: broker_start DIR}"
  dir="$(cd "$dir" && pwd)" || return 1
  if [[ ! -f $dir/server.properties ]]; then _broker_fail "no $dir/server.properties; run broker_init first"; return 1; fi
  local p
  for p in $BROKER_PORT $CONTROLLER_PORT; do
    if _broker_port_open "$p"; then _broker_fail "port $p already in use"; return 1; fi
  done
  # The log is appended to, so a restart's recovery lines follow the first run's.
  echo "==== broker_start $(date -u +%FT%TZ) ====" >>"$dir/broker.log"
  # shellcheck disable=SC2086
  java $KAFKA_JVM_OPTS -Dlog4j2.configurationFile="$BROKER_SH_DIR/log4j2-broker.properties" \
       -cp "$KAFKA_LIB/*" kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/broker.pid"
  # Ready = KafkaRaftServer has logged "Kafka Server started" (written after the broker is unfenced and
  # serving requests; the port alone accepts connections earlier) and the port answers.
  local start=$SECONDS
  local mark; mark="$(grep -c '^==== broker_start' "$dir/broker.log")"
  while ((SECONDS - start < 60)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      _broker_tail "$dir"; rm -f "$dir/broker.pid"; _broker_fail "broker (pid $pid) exited during start"; return 1
    fi
    # only the lines after this start's marker count
    if awk -v m="$mark" '/^==== broker_start/{n++} n==m && /Kafka Server started/{f=1} END{exit !f}' "$dir/broker.log" \
       && _broker_port_open "$BROKER_PORT"; then
      echo "broker pid $pid serving on 127.0.0.1:$BROKER_PORT after $((SECONDS - start)) s"
      return 0
    fi
    sleep 0.2
  done
  _broker_tail "$dir"
  # Don't leave a half-started broker holding the ports for the next attempt.
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/broker.pid"
  _broker_fail "broker (pid $pid) not serving after 60 s; killed it"
  return 1
}

broker_stop() {
  local dir="${1:?usage: broker_stop DIR}"
  local pid; pid="$(cat "$dir/broker.pid" 2>/dev/null)" || { _broker_fail "no $dir/broker.pid"; return 1; }
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$dir/broker.pid"; _broker_tail "$dir"; _broker_fail "broker pid $pid was not running"; return 1
  fi
  # SIGTERM runs Kafka's shutdown hook: controlled shutdown, flush, checkpoints, clean-shutdown marker.
  kill -TERM "$pid" 2>/dev/null || true
  local start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - start >= 60)); then
      _broker_tail "$dir"
      kill -KILL "$pid" 2>/dev/null || true   # don't leave it holding the ports; the data dir is now unclean
      rm -f "$dir/broker.pid"
      _broker_fail "broker pid $pid ignored SIGTERM for 60 s; killed with SIGKILL"; return 1
    fi
    sleep 0.2
  done
  rm -f "$dir/broker.pid"
  # Clean shutdown leaves this marker in the log.dir; without it the next start runs log recovery.
  if [[ ! -e $dir/data/.kafka_cleanshutdown ]]; then
    _broker_tail "$dir"; _broker_fail "broker exited but $dir/data/.kafka_cleanshutdown is missing"; return 1
  fi
  echo "broker pid $pid stopped cleanly after $((SECONDS - start)) s"
}
