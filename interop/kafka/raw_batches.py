#!/usr/bin/env python3
"""Raw batches through a Kafka broker, with kafka-python's protocol classes (no producer or
consumer logic in between):

    raw_batches.py BOOTSTRAP TOPIC IN.bin OUT.bin
    raw_batches.py fetch BOOTSTRAP TOPIC OUT.bin

Sends the batches of IN.bin (from partlog's `read_raw`) to partition 0 of TOPIC, an empty
topic, one Produce request each, as they are but for the base offset (a Produce request carries
0 there: the broker assigns offsets); fetches the partition back with one Fetch
request and checks that the broker returns the very same bytes (offsets, CRCs, codecs,
timestamps and all); writes the fetched bytes to OUT.bin for partlog's `append_raw`. `fetch`
writes what a broker returns for a topic that Kafka's own producers wrote.
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

    fetched, high_watermark = fetch_all(client, node, topic)
    if fetched != raw:
        first = next((i for i, (a, b) in enumerate(zip(fetched, raw)) if a != b), min(len(fetched), len(raw)))
        raise SystemExit(f"the broker returned different bytes: {len(fetched)} vs {len(raw)} sent, "
                         f"first difference at byte {first}")
    open(dst, "wb").write(fetched)
    print(f"{batches} partlog batches ({len(raw)} bytes) produced to {topic}-0 and fetched back identical "
          f"(high watermark {high_watermark})")
    client.close()


def fetch_all(client, node, topic):
    """Every batch of partition 0 of `topic`, from offset 0 to the high watermark, as the broker
    sends them (Fetch requests; the broker sends whole batches, the file's bytes)."""
    FTopic, FPartition = FetchRequest.FetchTopic, FetchRequest.FetchTopic.FetchPartition
    out, offset, high_watermark = b"", 0, None
    while high_watermark is None or offset < high_watermark:
        fetch = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=64 << 20, isolation_level=0,
                             session_id=0, session_epoch=-1,
                             topics=[FTopic(topic=topic, partitions=[FPartition(
                                 partition=0, current_leader_epoch=-1, fetch_offset=offset, last_fetched_epoch=-1,
                                 log_start_offset=-1, partition_max_bytes=64 << 20)])],
                             forgotten_topics_data=[], rack_id="", min_version=4, max_version=12)
        part = client.send_and_receive(node, fetch).responses[0].partitions[0]
        if part.error_code != 0:
            raise SystemExit(f"Fetch of {topic}-0 at {offset} failed: error {part.error_code}")
        high_watermark = part.high_watermark
        data = part.records
        if not isinstance(data, (bytes, bytearray)):
            data = data.buffer() if hasattr(data, "buffer") else bytes(data)
        data = bytes(data)
        if not data:
            break
        # Whole batches only (a broker may cut the last one short at the size limit).
        pos = 0
        while pos + 12 <= len(data):
            size = 12 + int.from_bytes(data[pos + 8:pos + 12], "big")
            if pos + size > len(data):
                break
            base = int.from_bytes(data[pos:pos + 8], "big", signed=True)
            delta = int.from_bytes(data[pos + 23:pos + 27], "big")  # lastOffsetDelta
            offset = base + delta + 1
            pos += size
        out += data[:pos]
    return out, high_watermark


def fetch_command():
    """raw_batches.py fetch BOOTSTRAP TOPIC OUT.bin: partition 0's batches, as fetched."""
    bootstrap, topic, dst = sys.argv[2:5]
    client = KafkaNetClient(bootstrap_servers=bootstrap, client_id="partlog-raw-batches")
    client.check_version()
    fetched, high_watermark = fetch_all(client, client.least_loaded_node(), topic)
    open(dst, "wb").write(fetched)
    print(f"{topic}-0: {len(fetched)} bytes of batches fetched (high watermark {high_watermark})")
    client.close()


if __name__ == "__main__":
    fetch_command() if sys.argv[1] == "fetch" else main()
