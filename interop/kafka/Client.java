// Kafka's own Java clients driving a real broker for partlog's interop checks. One file, run with the
// JDK source launcher on the jars of this folder's pom:
//   java -cp "$KAFKA_LIB/*" interop/kafka/Client.java <command> ...
// Commands (all exit non-zero on any failure):
//   create-topic BOOTSTRAP NAME PARTITIONS [key=value ...]
//   feed BOOTSTRAP DATA_DIR              the workload; DATA_DIR (the broker's log.dir) is only read
//   dump BOOTSTRAP OUT.json TOPIC...     every record (read_uncommitted; read_committed to OUT.json.committed.json)
//   list-offsets BOOTSTRAP OUT.json TOPIC...
//   group-offsets BOOTSTRAP GROUP OUT.json
//   produce-file BOOTSTRAP TOPIC PARTITION IN.json   records as dump writes them (offset ignored)
// Bytes in JSON are lowercase hex, absent bytes are null.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.appender.ConsoleAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory;
import org.apache.logging.log4j.core.config.builder.impl.BuiltConfiguration;

public class Client {
    static final HexFormat HEX = HexFormat.of();
    static final Duration TIMEOUT = Duration.ofSeconds(60);
    static final List<String> CODECS = List.of("none", "gzip", "snappy", "lz4", "zstd");

    public static void main(String[] args) {
        quietLogging();
        try {
            run(args);
        } catch (Throwable t) {
            if (t.getMessage() != null && t.getMessage().startsWith("usage:")) System.err.println(t.getMessage());
            else t.printStackTrace();
            System.exit(1);
        }
        System.exit(0); // client threads must not keep the JVM alive
    }

    static void run(String[] a) throws Exception {
        if (a.length < 2) throw usage();
        String bootstrap = a[1];
        switch (a[0]) {
            case "create-topic" -> {
                if (a.length < 4) throw usage();
                Map<String, String> configs = new TreeMap<>();
                for (String kv : Arrays.copyOfRange(a, 4, a.length)) {
                    int eq = kv.indexOf('=');
                    if (eq < 1) throw new IllegalArgumentException("not key=value: " + kv);
                    configs.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                try (Admin admin = admin(bootstrap)) {
                    createTopic(admin, a[2], Integer.parseInt(a[3]), configs);
                }
            }
            case "feed" -> { if (a.length != 3) throw usage(); feed(bootstrap, Path.of(a[2])); }
            case "dump" -> {
                if (a.length < 4) throw usage();
                List<String> topics = List.of(Arrays.copyOfRange(a, 3, a.length));
                Files.writeString(Path.of(a[2]), dumpJson(bootstrap, topics, "read_uncommitted"));
                Files.writeString(Path.of(a[2] + ".committed.json"), dumpJson(bootstrap, topics, "read_committed"));
            }
            case "list-offsets" -> {
                if (a.length < 4) throw usage();
                Files.writeString(Path.of(a[2]), listOffsets(bootstrap, List.of(Arrays.copyOfRange(a, 3, a.length))));
            }
            case "group-offsets" -> { if (a.length != 4) throw usage(); Files.writeString(Path.of(a[3]), groupOffsets(bootstrap, a[2])); }
            case "produce-file" -> { if (a.length != 5) throw usage(); produceFile(bootstrap, a[2], Integer.parseInt(a[3]), Path.of(a[4])); }
            default -> throw usage();
        }
    }

    static IllegalArgumentException usage() {
        return new IllegalArgumentException("usage: create-topic|feed|dump|list-offsets|group-offsets|produce-file (see the top of Client.java)");
    }

    /** Log4j (the kafka-clients' logger here) at WARN to stderr, so stdout is only this program's. */
    static void quietLogging() {
        ConfigurationBuilder<BuiltConfiguration> b = ConfigurationBuilderFactory.newConfigurationBuilder();
        b.add(b.newAppender("err", "Console").addAttribute("target", ConsoleAppender.Target.SYSTEM_ERR)
                .add(b.newLayout("PatternLayout").addAttribute("pattern", "%d{HH:mm:ss.SSS} %-5level %c{1} - %msg%n")));
        b.add(b.newRootLogger(Level.WARN).add(b.newAppenderRef("err")));
        Configurator.initialize(b.build());
    }

    // ---------------------------------------------------------------- clients

    static Admin admin(String bootstrap) {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap));
    }

    static KafkaProducer<byte[], byte[]> producer(String bootstrap, Map<String, Object> extra) {
        Map<String, Object> c = new HashMap<>();
        c.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        c.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true); // the default; stated because the data depends on it
        c.put(ProducerConfig.ACKS_CONFIG, "all");
        // Batch boundaries come from the explicit flush() calls in feed: nothing is sent early.
        c.put(ProducerConfig.LINGER_MS_CONFIG, 5000);
        c.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        c.putAll(extra);
        return new KafkaProducer<>(c);
    }

    static KafkaConsumer<byte[], byte[]> consumer(String bootstrap, Map<String, Object> extra) {
        Map<String, Object> c = new HashMap<>();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.putAll(extra);
        return new KafkaConsumer<>(c);
    }

    static void createTopic(Admin admin, String name, int partitions, Map<String, String> configs) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs))).all().get();
        long deadline = System.currentTimeMillis() + TIMEOUT.toMillis();
        while (true) { // created = described with a leader for every partition
            try {
                TopicDescription d = admin.describeTopics(List.of(name)).allTopicNames().get().get(name);
                if (d.partitions().size() == partitions && d.partitions().stream().allMatch(p -> p.leader() != null)) break;
            } catch (Exception notYet) {
                if (System.currentTimeMillis() > deadline) throw notYet;
            }
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("topic " + name + " has no leaders");
            Thread.sleep(100);
        }
        System.out.println("created " + name + " (" + partitions + " partitions) " + configs);
    }

    static List<TopicPartition> partitionsOf(Admin admin, Collection<String> topics) throws Exception {
        List<TopicPartition> out = new ArrayList<>();
        for (TopicDescription d : new TreeMap<>(admin.describeTopics(topics).allTopicNames().get()).values())
            d.partitions().forEach(p -> out.add(new TopicPartition(d.name(), p.partition())));
        out.sort(Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
        return out;
    }

    /** Every record of these partitions from the beginning to the end offsets taken at the start. */
    static Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> readAll(String bootstrap, List<TopicPartition> tps, String isolation) {
        Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> out = new LinkedHashMap<>();
        tps.forEach(tp -> out.put(tp, new ArrayList<>()));
        try (var c = consumer(bootstrap, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation))) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps); // high watermark, or the LSO for read_committed
            long deadline = System.currentTimeMillis() + TIMEOUT.toMillis();
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.currentTimeMillis() > deadline) throw new IllegalStateException("reading " + tps + " timed out");
                for (var r : c.poll(Duration.ofMillis(200))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    if (r.offset() < end.get(tp)) out.get(tp).add(r);
                }
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- feed

    static void feed(String bootstrap, Path dataDir) throws Exception {
        Map<String, String> summary = new LinkedHashMap<>();
        try (Admin admin = admin(bootstrap)) {
            for (String codec : CODECS) createTopic(admin, "codec-" + codec, 2, Map.of());
            createTopic(admin, "log-append-time", 1, Map.of("message.timestamp.type", "LogAppendTime"));
            createTopic(admin, "txn", 1, Map.of());
            createTopic(admin, "compacted", 1, Map.of(
                    "cleanup.policy", "compact",
                    "segment.bytes", "1048576",          // Kafka 4 refuses less than 1 MiB; segment.ms rolls instead
                    "segment.ms", "1000",
                    "min.cleanable.dirty.ratio", "0.01",
                    "delete.retention.ms", "3000",       // how long a cleaned tombstone stays (its delete horizon)
                    "min.compaction.lag.ms", "0"));
        }
        long t0 = System.nanoTime();
        for (String codec : CODECS) summary.put("codec-" + codec, feedCodec(bootstrap, codec) + " records");
        summary.put("log-append-time", feedLogAppendTime(bootstrap) + " records");
        summary.put("txn", feedTxn(bootstrap));
        summary.put("compacted", feedCompacted(bootstrap, dataDir));
        summary.put("interop-group", feedGroup(bootstrap));
        System.out.printf("feed done in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        summary.forEach((k, v) -> System.out.println("  " + k + ": " + v));
    }

    /** Record i of the codec topics: every awkward shape in turn, the same for every codec. */
    static ProducerRecord<byte[], byte[]> awkward(String topic, int i, long base, Random rnd) {
        byte[] key = switch (i % 11) {
            case 0 -> null;
            case 1 -> new byte[0];
            case 2 -> new byte[] {0, (byte) 0xff, (byte) 0x80, (byte) i, 0};
            default -> ("key-" + i % 97).getBytes(StandardCharsets.UTF_8);
        };
        byte[] value;
        if (i % 500 == 250) {                      // a few ~70 KB values, random so no codec shrinks them
            value = new byte[70 * 1024 + i % 7];
            rnd.nextBytes(value);
        } else value = switch (i % 13) {
            case 0 -> null;                        // tombstone
            case 1 -> new byte[0];
            case 2 -> { byte[] v = new byte[1 + i % 64]; rnd.nextBytes(v); yield v; }
            case 3 -> ("ünïcödé ✓ " + i).getBytes(StandardCharsets.UTF_8);
            default -> ("value-" + i + "-" + "x".repeat(i % 40)).getBytes(StandardCharsets.UTF_8);
        };
        List<Header> headers = switch (i % 5) {
            case 0 -> List.of();
            case 1 -> List.of(new RecordHeader("h", "v".getBytes(StandardCharsets.UTF_8)));
            case 2 -> List.of(new RecordHeader("ключ-κλειδί-鍵", new byte[] {1, 2, (byte) 0xfe}));
            case 3 -> List.of(new RecordHeader("null-value", (byte[]) null), new RecordHeader("", new byte[0]));
            default -> List.of(new RecordHeader("dup", new byte[] {1}), new RecordHeader("dup", new byte[] {2}));
        };
        // Explicit timestamps, three records per value, and every 17th one 5 s back in time;
        // every 23rd record has none (the producer stamps it with the current time).
        Long ts = i % 23 == 0 ? null : base + (i / 3) * 10L - (i % 17 == 0 ? 5000 : 0);
        return new ProducerRecord<>(topic, i % 2, ts, key, value, headers);
    }

    static int feedCodec(String bootstrap, String codec) throws Exception {
        // An hour back: within Kafka 4's log.message.timestamp.after.max.ms (1 h) and clear of "now".
        long base = System.currentTimeMillis() - 3_600_000L;
        Random rnd = new Random(42);
        int[] chunks = {1, 2, 50, 300, 700}; // records between flushes: batches of 1 to hundreds of records
        int total = 3000, i = 0;
        try (var p = producer(bootstrap, Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec))) {
            for (int c = 0; i < total; c++) {
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (int n = 0; n < chunks[c % chunks.length] && i < total; n++, i++)
                    sent.add(p.send(awkward("codec-" + codec, i, base, rnd)));
                p.flush();
                for (var f : sent) f.get(); // surface any send error
            }
        }
        return total;
    }

    static int feedLogAppendTime(String bootstrap) throws Exception {
        try (var p = producer(bootstrap, Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, "gzip"))) {
            for (int i = 0; i < 200; i++) {
                // The broker overwrites the timestamp; the one sent here must not come back.
                p.send(new ProducerRecord<>("log-append-time", 0, 1_000L + i, ("k" + i % 10).getBytes(), ("v" + i).getBytes()));
                if (i % 40 == 39) p.flush();
            }
            p.flush();
        }
        return 200;
    }

    /** Transactions committed and aborted, with a plain idempotent producer's batches between them. */
    static String feedTxn(String bootstrap) throws Exception {
        int committed = 0, aborted = 0;
        List<Future<RecordMetadata>> plain = new ArrayList<>();
        try (var t = producer(bootstrap, Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "interop-txn"));
             var p = producer(bootstrap, Map.of())) {
            t.initTransactions();
            for (int n = 0; n < 8; n++) {
                boolean abort = n % 3 == 1;
                t.beginTransaction();
                for (int j = 0; j < 40; j++) {
                    t.send(txnRecord("t" + n + "-" + j, (abort ? "aborted " : "committed ") + n + "/" + j));
                    if (j == 19) { // half the transaction is on disk: the plain producer writes in the middle
                        t.flush();
                        for (int k = 0; k < 5; k++) plain.add(p.send(txnRecord("p" + n + "-" + k, "plain " + n + "/" + k)));
                        p.flush();
                    }
                }
                t.flush();
                // a send error would make these throw
                if (abort) { t.abortTransaction(); aborted += 40; } else { t.commitTransaction(); committed += 40; }
                for (int k = 5; k < 8; k++) plain.add(p.send(txnRecord("p" + n + "-" + k, "plain " + n + "/" + k)));
                p.flush();
            }
        }
        for (var f : plain) f.get();
        return String.format("%d records: %d committed, %d aborted (transactional.id interop-txn), %d non-transactional;"
                + " 8 transaction markers", committed + aborted + plain.size(), committed, aborted, plain.size());
    }

    static ProducerRecord<byte[], byte[]> txnRecord(String key, String value) {
        return new ProducerRecord<>("txn", 0, key.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Rounds of 100 records over 50 keys, each round by a new idempotent producer and after
     * segment.ms, so each round starts a segment and the one before becomes cleanable. Round 1
     * deletes keys 0-9 for good, round 5 keys 10-19. Kafka's cleaner then: drops overwritten
     * records (offset gaps), keeps an empty batch where a producer's last batch lost all its
     * records (producer state), stamps a delete horizon on the tombstones of its first pass, and
     * removes round 1's tombstones in a later pass, after delete.retention.ms.
     */
    static String feedCompacted(String bootstrap, Path dataDir) throws Exception {
        Path checkpoint = dataDir.resolve("cleaner-offset-checkpoint");
        long[] firstOffset = new long[8];
        int records = 0;
        List<String> seen = new ArrayList<>();
        for (int round = 0; round < 8; round++) {
            if (round == 4) { // tombstones of round 1 are cleaned, with a horizon; let it pass
                long c1 = awaitCleaned(checkpoint, firstOffset[3]);
                seen.add("cleaned to " + c1 + " after round 3");
                Thread.sleep(3000 + 1500);
            }
            Thread.sleep(1100); // > segment.ms: the first record of the round rolls a new segment
            try (var p = producer(bootstrap, Map.of())) {
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (int j = 0; j < 100; j++) {
                    int key = j % 50, deletedIn = key < 10 ? 1 : key < 20 ? 5 : Integer.MAX_VALUE;
                    if (round > deletedIn) continue; // a deleted key stays deleted
                    byte[] value = round == deletedIn ? null : ("round " + round + " key " + key + " #" + j).getBytes();
                    sent.add(p.send(new ProducerRecord<>("compacted", 0, ("key-" + key).getBytes(), value)));
                    if (j % 10 == 9) p.flush();
                }
                p.flush();
                firstOffset[round] = sent.get(0).get().offset();
                records += sent.size();
            }
        }
        long c2 = awaitCleaned(checkpoint, firstOffset[7]);
        seen.add("cleaned to " + c2 + " after round 7");
        // What the cleaner left: compare with what was produced.
        var kept = readAll(bootstrap, List.of(new TopicPartition("compacted", 0)), "read_uncommitted").values().iterator().next();
        long tombstones = kept.stream().filter(r -> r.value() == null).count();
        long round1Tombstones = kept.stream().filter(r -> r.value() == null && r.key().length == 5).count(); // key-0 .. key-9
        if (round1Tombstones > 0) throw new IllegalStateException("no cleaning after round 1's delete horizon: its tombstones are still there");
        return String.format("%d records produced at offsets 0..%d, %d kept, %d tombstones kept (round 5's; round 1's are gone); %s",
                records, records - 1, kept.size(), tombstones, String.join(", ", seen));
    }

    /** Waits until cleaner-offset-checkpoint says compacted-0 is cleaned up to at least `offset`. */
    static long awaitCleaned(Path checkpoint, long offset) throws Exception {
        long deadline = System.currentTimeMillis() + TIMEOUT.toMillis(), last = -1;
        while (System.currentTimeMillis() < deadline) {
            // Format: version line, count line, then "topic partition offset" lines.
            if (Files.exists(checkpoint)) for (String line : Files.readAllLines(checkpoint)) {
                String[] f = line.trim().split(" ");
                if (f.length == 3 && f[0].equals("compacted") && f[1].equals("0")) last = Long.parseLong(f[2]);
            }
            if (last >= offset) return last;
            Thread.sleep(200);
        }
        throw new IllegalStateException("the cleaner did not clean compacted-0 to offset " + offset + " in "
                + TIMEOUT.toSeconds() + " s (" + checkpoint + " says " + last + ")");
    }

    /** A classic consumer group reads the codec topics and commits; one commit carries metadata. */
    static String feedGroup(String bootstrap) throws Exception {
        List<String> topics = CODECS.stream().map(c -> "codec-" + c).toList();
        int expected = 3000 * topics.size(), got = 0;
        try (var c = consumer(bootstrap, Map.of(ConsumerConfig.GROUP_ID_CONFIG, "interop-group",
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic"))) { // the default, stated: __consumer_offsets' record kinds depend on it
            c.subscribe(topics);
            long deadline = System.currentTimeMillis() + TIMEOUT.toMillis();
            while (got < expected) {
                if (System.currentTimeMillis() > deadline) throw new IllegalStateException("group read " + got + " of " + expected);
                got += c.poll(Duration.ofMillis(200)).count();
            }
            Map<TopicPartition, OffsetAndMetadata> commit = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
            for (TopicPartition tp : c.assignment())
                commit.put(tp, new OffsetAndMetadata(c.position(tp), tp.equals(new TopicPartition("codec-none", 0)) ? "partlog" : ""));
            c.commitSync(commit);
            return got + " records read, " + commit.size() + " offsets committed (codec-none-0 with metadata \"partlog\")";
        }
    }

    // ---------------------------------------------------------------- dump, list-offsets, group-offsets

    static String dumpJson(String bootstrap, List<String> topics, String isolation) throws Exception {
        List<TopicPartition> tps;
        try (Admin admin = admin(bootstrap)) { tps = partitionsOf(admin, topics); }
        StringBuilder s = new StringBuilder("{\"topics\": {");
        String topic = null;
        for (var e : readAll(bootstrap, tps, isolation).entrySet()) {
            TopicPartition tp = e.getKey();
            if (!tp.topic().equals(topic)) s.append(topic == null ? "" : "}, ").append(str(topic = tp.topic())).append(": {");
            else s.append(", ");
            s.append(str(String.valueOf(tp.partition()))).append(": [");
            String sep = "\n";
            for (var r : e.getValue()) {
                s.append(sep).append("{\"offset\":").append(r.offset()).append(",\"timestamp\":").append(r.timestamp())
                 .append(",\"timestamp_type\":").append(str(r.timestampType().name))
                 .append(",\"key\":").append(hex(r.key())).append(",\"value\":").append(hex(r.value())).append(",\"headers\":[");
                String hsep = "";
                for (Header h : r.headers()) {
                    s.append(hsep).append('[').append(str(h.key())).append(',').append(hex(h.value())).append(']');
                    hsep = ",";
                }
                s.append("]}");
                sep = ",\n";
            }
            s.append("]");
        }
        return s.append(topic == null ? "" : "}").append("}}\n").toString();
    }

    static String listOffsets(String bootstrap, List<String> topics) throws Exception {
        List<TopicPartition> tps;
        try (Admin admin = admin(bootstrap)) { tps = partitionsOf(admin, topics); }
        var records = readAll(bootstrap, tps, "read_uncommitted");
        StringBuilder s = new StringBuilder("{");
        String topic = null;
        try (var c = consumer(bootstrap, Map.of())) {
            Map<TopicPartition, Long> begin = c.beginningOffsets(tps), end = c.endOffsets(tps);
            for (TopicPartition tp : tps) {
                // Every record timestamp, one either side, and the extremes.
                TreeSet<Long> times = new TreeSet<>(List.of(0L, 1L, Long.MAX_VALUE - 1, Long.MAX_VALUE));
                for (var r : records.get(tp)) for (long d = -1; d <= 1; d++) if (r.timestamp() + d >= 0) times.add(r.timestamp() + d);
                if (!tp.topic().equals(topic)) s.append(topic == null ? "" : "}, ").append(str(topic = tp.topic())).append(": {");
                else s.append(", ");
                s.append(str(String.valueOf(tp.partition()))).append(": {\"begin\":").append(begin.get(tp))
                 .append(",\"end\":").append(end.get(tp)).append(",\"times\":[");
                String sep = "\n";
                for (long ts : times) {
                    OffsetAndTimestamp o = c.offsetsForTimes(Map.of(tp, ts), TIMEOUT).get(tp);
                    s.append(sep).append('[').append(ts).append(',').append(o == null ? "null" : o.offset())
                     .append(',').append(o == null ? "null" : o.timestamp()).append(']');
                    sep = ",\n";
                }
                s.append("]}");
            }
        }
        return s.append(topic == null ? "" : "}").append("}\n").toString();
    }

    static String groupOffsets(String bootstrap, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets;
        try (Admin admin = admin(bootstrap)) {
            offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        }
        if (offsets.isEmpty()) throw new IllegalStateException("group " + group + " has no committed offsets");
        Map<String, Map<Integer, OffsetAndMetadata>> byTopic = new TreeMap<>();
        offsets.forEach((tp, o) -> byTopic.computeIfAbsent(tp.topic(), t -> new TreeMap<>()).put(tp.partition(), o));
        StringJoiner topics = new StringJoiner(",\n", "{", "}\n");
        byTopic.forEach((t, ps) -> {
            StringJoiner parts = new StringJoiner(", ", str(t) + ": {", "}");
            ps.forEach((p, o) -> parts.add(str(String.valueOf(p)) + ": {\"offset\":" + o.offset() + ",\"metadata\":" + str(o.metadata()) + "}"));
            topics.add(parts.toString());
        });
        return topics.toString();
    }

    static void produceFile(String bootstrap, String topic, int partition, Path in) throws Exception {
        JsonNode records = new ObjectMapper().readTree(in.toFile());
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (var p = producer(bootstrap, Map.of())) {
            for (JsonNode r : records) {
                List<Header> headers = new ArrayList<>();
                for (JsonNode h : r.path("headers")) headers.add(new RecordHeader(h.get(0).asText(), unhex(h.get(1))));
                Long ts = r.path("timestamp").isNumber() ? r.get("timestamp").asLong() : null;
                sent.add(p.send(new ProducerRecord<>(topic, partition, ts, unhex(r.get("key")), unhex(r.get("value")), headers)));
            }
            p.flush();
            for (var f : sent) f.get(); // surface any send error
        }
        System.out.println("produced " + sent.size() + " records to " + topic + "-" + partition);
    }

    // ---------------------------------------------------------------- JSON bits

    static String hex(byte[] b) { return b == null ? "null" : "\"" + HEX.formatHex(b) + "\""; }

    static byte[] unhex(JsonNode n) { return n == null || n.isNull() ? null : HEX.parseHex(n.asText()); }

    static String str(String v) {
        StringBuilder s = new StringBuilder("\"");
        for (char ch : v.toCharArray()) {
            switch (ch) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                default -> { if (ch < 0x20) s.append(String.format("\\u%04x", (int) ch)); else s.append(ch); }
            }
        }
        return s.append('"').toString();
    }
}
