#!/usr/bin/env bash
# Apache Kafka's own performance tools against a KRaft broker on loopback, beside partlog running
# the same workloads in-process (`benches/targets`, row `kafka_tools`): ProducerPerformance
# (1M records of 100 B, default producer settings), ConsumerPerformance (the same 1M records) and
# EndToEndLatency (10,000 round trips of one 100 B record, acks=1). Not part of CI (it measures;
# CI proves); run it on a quiet machine: `bash interop/kafka/perf.sh [WORKDIR]`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

(cd "$here" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib)
export KAFKA_LIB="$here/target/lib"
source "$here/broker.sh"
trap '[[ -f $work/perf/broker.pid ]] && kill -KILL "$(cat "$work/perf/broker.pid")" 2>/dev/null; true' EXIT
tool() { java -Xmx512m -cp "$KAFKA_LIB/*" "$@"; }
bootstrap=127.0.0.1:$BROKER_PORT

broker_init "$work/perf" >/dev/null
broker_start "$work/perf"
for t in perf e2e; do
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create --topic "$t" \
    --partitions 1 --replication-factor 1 >/dev/null
done
echo "== Kafka $(ls "$KAFKA_LIB" | sed -n 's/^kafka-clients-\(.*\)\.jar$/\1/p'), one broker on loopback"
tool org.apache.kafka.tools.ProducerPerformance --topic perf --num-records 1000000 --record-size 100 \
  --throughput -1 --producer-props bootstrap.servers="$bootstrap" | tail -1
tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" --topic perf --messages 1000000 \
  | tail -2
tool org.apache.kafka.tools.EndToEndLatency "$bootstrap" e2e 10000 1 100 | tail -3
broker_stop "$work/perf"

echo "== partlog, the same workloads in-process"
cd "$root"
PARTLOG_TARGETS=kafka_tools cargo bench -q --bench targets 2>/dev/null | grep '^kafka tools'
