#!/usr/bin/env bash
# partlog checked against Apache Kafka itself (CI's "Apache Kafka" stage; runs by hand too):
#
#   interop/kafka/run.sh [WORK_DIR]
#
# 1. Kafka's DumpLogSegments reads every segment partlog writes: no error, no index mismatch,
#    the records partlog wrote.
# 2. A Kafka broker serves partlog's data: partition data written by partlog is placed in a
#    broker's partition directories; the broker recovers it without repairing anything, and a
#    Kafka consumer reads every record as partlog wrote it.
# 3. partlog opens a broker's log.dir (every codec, idempotent and transactional producers, a
#    compacted topic after Kafka's cleaner ran, a consumer group's commits): records, time
#    lookups and committed offsets as Kafka answers them; no file partlog does not own changed.
# 4. Raw batches through a broker unchanged, both ways: partlog's batches produced and fetched
#    back identical; batches Kafka's producers wrote go through append_raw unchanged.
# 5. A partlog data directory is a log.dir a broker starts on and loads (it sets the partitions
#    aside as stray: they are not in its cluster's metadata); the old layout is refused (the
#    control that shows the check can fail).
#
# Needs Java 17, Maven, python3 with kafka-python (PYTHON, default python3). Maven caches the
# jars in ~/.m2; copy-dependencies puts them in interop/kafka/target/lib.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
python=${PYTHON:-python3}
features=zstd,json,async
start=$SECONDS
step() { printf '\n-- %s (%ss)\n' "$*" "$((SECONDS - start))"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
cd "$root"

step "Kafka's jars (Maven Central, cached in ~/.m2) and the Java drivers"
(cd "$here" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib)
export KAFKA_LIB="$here/target/lib"
mkdir -p "$here/target/classes"
javac -nowarn -cp "$KAFKA_LIB/*" -d "$here/target/classes" "$here/Client.java"
client() { java -cp "$here/target/classes:$KAFKA_LIB/*" Client "$@"; }
kafka_version=$(ls "$KAFKA_LIB" | sed -n 's/^kafka-clients-\(.*\)\.jar$/\1/p')
echo "Apache Kafka $kafka_version, $(java -version 2>&1 | head -1)"
# shellcheck source=broker.sh
source "$here/broker.sh"
# A failed step leaves no broker behind holding the ports.
stop_brokers() {
  local pid
  for pid in "$work"/*/broker.pid; do [[ -f $pid ]] && kill -KILL "$(cat "$pid")" 2>/dev/null; done
  return 0
}
trap stop_brokers EXIT
bootstrap=127.0.0.1:19092
interop_test() { cargo test -q --features "$features" --test kafka_interop "$1" -- --ignored --exact --nocapture; }

step "1. kafka-dump-log over partlog's segments"
# Every codec, several segments, LogAppendTime, retention and delete_records, truncate_to, compaction.
PARTLOG_ORACLE_DIR="$work/export" cargo test -q --features "$features" --test oracle_export
cargo run -q --example quickstart -- "$work/quickstart" >/dev/null
cargo run -q --release --example producer_consumer -- "$work/groups" >/dev/null  # with __consumer_offsets
for d in quickstart groups; do PARTLOG_INTEROP_DIR="$work/$d" interop_test write_expectations; done
"$python" "$here/dump_check.py" "$KAFKA_LIB" "$work/export" "$work/quickstart" "$work/groups"
# The check can fail: one flipped byte in a record of a copy is found.
mkdir -p "$work/damaged"
cp -r "$work/export/export-none-0" "$work/damaged/"
"$python" - "$work/damaged/export-none-0/00000000000000000000.log" <<'EOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[200] ^= 0x01
open(path, "wb").write(data)
EOF
if "$python" "$here/dump_check.py" "$KAFKA_LIB" "$work/damaged" >"$work/damaged.out" 2>&1; then
  fail "dump_check.py passed a damaged segment"
fi
echo "control: a damaged copy fails: $(tail -1 "$work/damaged.out")"

step "2. a Kafka broker serves partlog's data"
broker_init "$work/serve" >/dev/null
broker_start "$work/serve"
topics=()
for pdir in "$work"/export/export-*-0; do
  topic=$(basename "$pdir"); topic=${topic%-0}
  topics+=("$topic")
  configs=()
  grep -q '^cleanup.policy=compact' "$work/export/$topic.conf" && configs+=(cleanup.policy=compact)
  grep -q '^message.timestamp.type=LogAppendTime' "$work/export/$topic.conf" \
    && configs+=(message.timestamp.type=LogAppendTime)
  client create-topic "$bootstrap" "$topic" 1 "${configs[@]}" >/dev/null
done
broker_stop "$work/serve"
for topic in "${topics[@]}"; do
  target="$work/serve/data/$topic-0"
  [[ -f $target/partition.metadata ]] || fail "the broker made no $target"
  # The broker's own empty segment goes; its partition.metadata (topic id) and checkpoints stay.
  rm -f "$target"/*.log "$target"/*.index "$target"/*.timeindex
  cp "$work/export/$topic-0"/*.log "$work/export/$topic-0"/*.index "$work/export/$topic-0"/*.timeindex "$target/"
done
# partlog's checkpoints are Kafka's format. The log start offsets carry delete_records (one is
# inside a segment: without the entry the broker would serve the deleted records again); the
# cleaner offsets tell the broker's LogCleaner how far partlog compacted.
for checkpoint in log-start-offset-checkpoint cleaner-offset-checkpoint; do
  "$python" "$here/merge_checkpoints.py" "$work/export/$checkpoint" "$work/serve/data/$checkpoint" export-
done
# No clean-shutdown marker: the broker recovers every segment (checks each batch, rebuilds the
# indexes) instead of trusting them.
rm "$work/serve/data/.kafka_cleanshutdown"
(cd "$work/serve/data" && sha256sum export-*/*.log) >"$work/serve-logs.before"
lines_before=$(wc -l <"$work/serve/broker.log")
broker_start "$work/serve"
client dump "$bootstrap" "$work/served.json" "${topics[@]}"
"$python" "$here/compare_dump.py" "$work/export" "$work/served.json"

step "4. raw batches through the broker, both ways"
client create-topic "$bootstrap" raw 1 >/dev/null
PARTLOG_RAW_OUT="$work/raw-out.bin" interop_test raw_batches_in_and_out
"$python" "$here/raw_batches.py" "$bootstrap" raw "$work/raw-out.bin" "$work/raw-in.bin"
PARTLOG_RAW_IN="$work/raw-in.bin" interop_test raw_batches_in_and_out
broker_stop "$work/serve"
# What the broker said while loading partlog's segments: recovered, nothing repaired.
recovery=$(tail -n +"$((lines_before + 1))" "$work/serve/broker.log")
# Kafka's complaints: "Found invalid messages in log segment", "Truncated ... invalid bytes",
# "Found a corrupted index file", WARN and ERROR lines. One WARN is bookkeeping, not repair: the
# high watermark of a partition whose log start is inside a segment (delete_records) starts at
# the log start and is then set from the segment's base ("Non-monotonic update of high
# watermark"). The .log bytes and what the consumer read are checked apart from the log.
if grep -E " (WARN|ERROR) |[Ii]nvalid|[Cc]orrupt|Truncat(ed|ing) " <<<"$recovery" | grep -E "export-" \
     | grep -v "Non-monotonic update of high watermark" ; then
  fail "the broker repaired or complained about partlog's segments (above)"
fi
recovered=$(grep -E "Recovering unflushed segment" <<<"$recovery" | grep -c "export-" || true)
((recovered >= ${#topics[@]})) || fail "the broker recovered only $recovered of partlog's segments"
(cd "$work/serve/data" && sha256sum -c --quiet "$work/serve-logs.before") || fail "the broker changed partlog's .log files"
echo "the broker recovered $recovered of partlog's segments, repaired nothing, changed no .log byte"

step "3. partlog opens a broker's log.dir"
broker_init "$work/fed" >/dev/null
broker_start "$work/fed"
fed=(codec-none codec-gzip codec-snappy codec-lz4 codec-zstd log-append-time txn compacted)
client feed "$bootstrap" "$work/fed/data"
client dump "$bootstrap" "$work/fed.json" "${fed[@]}"
client list-offsets "$bootstrap" "$work/fed-offsets.json" "${fed[@]}"
client group-offsets "$bootstrap" interop-group "$work/fed-group.json"
PARTLOG_KAFKA_LIVE_DIR="$work/fed/data" interop_test refuses_a_running_brokers_log_dir
# Batches Kafka's own producers wrote (zstd, the Java client's lz4 framing, idempotent: producer
# ids and sequences), as the broker sends them, for partlog's append_raw below. (Not `txn`:
# append_raw appends as a leader does, and a leader refuses control batches from clients, as
# Kafka does; a follower's append that keeps offsets and markers is not in partlog yet.)
for topic in codec-zstd codec-lz4; do
  "$python" "$here/raw_batches.py" fetch "$bootstrap" "$topic" "$work/fetched-$topic.bin"
done
broker_stop "$work/fed"
for topic in codec-zstd codec-lz4; do
  PARTLOG_RAW_IN="$work/fetched-$topic.bin" interop_test raw_batches_in_and_out
done
cp -a "$work/fed/data" "$work/fed-copy"
PARTLOG_KAFKA_LOG_DIR="$work/fed-copy" PARTLOG_KAFKA_DUMP="$work/fed.json" \
  PARTLOG_KAFKA_LIST_OFFSETS="$work/fed-offsets.json" PARTLOG_KAFKA_GROUP_OFFSETS="$work/fed-group.json" \
  interop_test opens_a_kafka_brokers_log_dir
# And Kafka's own tools still accept the copy partlog opened and closed.
"$python" - "$work/fed-copy" <<'EOF'
import os, sys
root = sys.argv[1]
logs = [os.path.join(root, d, f) for d in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, d))
        for f in sorted(os.listdir(os.path.join(root, d))) if f.endswith(".log")]
open(os.path.join(root, "..", "fed-copy-logs"), "w").write(",".join(logs))
EOF
java -cp "$KAFKA_LIB/*" kafka.tools.DumpLogSegments --deep-iteration --files "$(cat "$work/fed-copy-logs")" \
  >"$work/fed-copy.dump" 2>&1
if grep -E "isvalid: false|Exception|invalid bytes" "$work/fed-copy.dump"; then
  fail "DumpLogSegments rejects the broker's log.dir after partlog opened it"
fi

step "5. a partlog data directory is a log.dir a broker starts on"
broker_init "$work/layout" >/dev/null
cp -r "$work/export/." "$work/layout/data/"
rm -f "$work/layout/data/.kafka_cleanshutdown" "$work/layout/data/.lock"
broker_start "$work/layout"
broker_stop "$work/layout"
partitions=$(ls -d "$work"/export/*-[0-9]* | wc -l)
loaded=$(grep -oE "Loaded [0-9]+ logs" "$work/layout/broker.log" | tail -1 | grep -oE "[0-9]+" || true)
[[ $loaded == "$partitions" ]] || fail "the broker loaded ${loaded:-no} logs of partlog's $partitions partitions"
stray=$(grep -c "marked stray" "$work/layout/broker.log" || true)
# Loaded, not served: the cluster's metadata has no such topics (no topic ids), so the broker
# sets them aside as stray logs; serving partlog's data is step 2's migration.
echo "the broker started on partlog's directory and loaded its $loaded partitions ($stray set aside as stray: not in the cluster's metadata)"
# Control: the layout before this change (topic-configs/) is refused.
broker_init "$work/old-layout" >/dev/null
mkdir "$work/old-layout/data/topic-configs"
if broker_start "$work/old-layout" >/dev/null 2>&1; then
  broker_stop "$work/old-layout"
  fail "the broker started on a directory with topic-configs/: the control failed"
fi
grep -m1 -oE "Found directory [^,]*topic-configs[^,]*|KafkaException.*topic-configs.*" "$work/old-layout/broker.log" \
  || fail "the broker did not refuse topic-configs/ as expected"

step "done: Apache Kafka $kafka_version"
