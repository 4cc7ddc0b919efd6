#!/usr/bin/env python3
"""Raw batches through a Kafka broker, with kafka-python's protocol classes (no producer or
consumer logic in between):

    raw_batches.py BOOTSTRAP TOPIC IN.bin OUT.bin

Sends the batches of IN.bin (from partlog's `read_raw`) to partition 0 of TOPIC, an empty
topic, one Produce request each, as they are but for the base offset (a Produce request carries
0 there: the broker assigns offsets); fetches the partition back with one Fetch
request and checks that the broker returns the very same bytes (offsets, CRCs, codecs,
timestamps and all); writes the fetched bytes to OUT.bin for partlog's `append_raw`.
"""
import sys

from kafka.net.compat import KafkaNetClient
from kafka.protocol.consumer import FetchRequest
from kafka.protocol.producer import ProduceRequest


def main():
    bootstrap, topic, src, dst = sys.argv[1:5]
    raw = open(src, "rb").read()
    client = KafkaNetClient(bootstrap_servers=bootstrap, client_id="partlog-raw-batches")
    client.check_version()
    node = client.least_loaded_node()

    Topic, Partition = ProduceRequest.TopicProduceData, ProduceRequest.TopicProduceData.PartitionProduceData
    # One Produce request per batch, as a producer sends them: a broker takes at most one
    # compressed batch per partition per request (LogValidator). The broker assigns offsets; the
    # topic starts empty, so it must assign each batch the base offset partlog gave it.
    pos = batches = 0
    while pos < len(raw):
        base_offset = int.from_bytes(raw[pos:pos + 8], "big", signed=True)
        size = 12 + int.from_bytes(raw[pos + 8:pos + 12], "big")
        # A producer's batch has no offset yet: the broker requires base offset 0 and record
        # offsets 0..n-1 in a Produce request and writes the real ones in (LogValidator). The
        # base offset is outside the CRC; every CRC-covered byte is sent as partlog wrote it.
        batch = bytes(8) + raw[pos + 8:pos + size]
        # Versions up to 12 name topics (13 uses topic ids).
        produce = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=30000,
                                 topic_data=[Topic(name=topic, partition_data=[Partition(index=0, records=batch)])],
                                 min_version=3, max_version=12)
        answer = client.send_and_receive(node, produce).responses[0].partition_responses[0]
        if answer.error_code != 0:
            raise SystemExit(f"Produce of the batch at byte {pos} failed: {answer}")
        if answer.base_offset != base_offset:
            raise SystemExit(f"the broker put the batch of base offset {base_offset} at {answer.base_offset}")
        pos, batches = pos + size, batches + 1

    FTopic, FPartition = FetchRequest.FetchTopic, FetchRequest.FetchTopic.FetchPartition
    fetch = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=64 << 20, isolation_level=0,
                         session_id=0, session_epoch=-1,
                         topics=[FTopic(topic=topic, partitions=[FPartition(
                             partition=0, current_leader_epoch=-1, fetch_offset=0, last_fetched_epoch=-1,
                             log_start_offset=-1, partition_max_bytes=64 << 20)])],
                         forgotten_topics_data=[], rack_id="", min_version=4, max_version=12)
    response = client.send_and_receive(node, fetch)
    part = response.responses[0].partitions[0]
    if part.error_code != 0:
        raise SystemExit(f"Fetch failed: error {part.error_code}")
    fetched = part.records
    if not isinstance(fetched, (bytes, bytearray)):
        fetched = fetched.buffer() if hasattr(fetched, "buffer") else bytes(fetched)
    fetched = bytes(fetched)
    if fetched != raw:
        first = next((i for i, (a, b) in enumerate(zip(fetched, raw)) if a != b), min(len(fetched), len(raw)))
        raise SystemExit(f"the broker returned different bytes: {len(fetched)} vs {len(raw)} sent, "
                         f"first difference at byte {first}")
    open(dst, "wb").write(fetched)
    print(f"{batches} partlog batches ({len(raw)} bytes) produced to {topic}-0 and fetched back identical "
          f"(high watermark {part.high_watermark})")
    client.close()


if __name__ == "__main__":
    main()
