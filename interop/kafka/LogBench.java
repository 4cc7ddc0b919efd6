// Apache Kafka's own storage engine (UnifiedLog, kafka-storage) on partlog's peers workload, as a
// speed anchor beside benches/peers/benches/peers.rs. Test equipment only; not part of partlog.
//
//     java -Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
//         -cp '/work/main/interop/kafka/target/lib/*' /work/main/interop/kafka/LogBench.java [--quick]
//
// Those are the heap and GC flags kafka-server-start.sh gives a broker. The 1M event values take
// about 120 MB of the heap. Parallel GC or a 2 GiB heap made no difference to the medians here.
//
// The log is driven as a broker leader drives it: records built into RecordBatch v2 with a
// MemoryRecordsBuilder (what the producer does), appended with UnifiedLog.appendAsLeader (batch
// validation and CRC check, offset assignment, leader-epoch stamping, offset/time index upkeep,
// LEO update), read back with UnifiedLog.read into FetchDataInfo whose batches and records are
// decoded one by one. Durability is the page cache: no flush is ever requested.
//
// stdout carries only the result lines; everything else (progress, Kafka's warnings) goes to stderr.

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Optional;
import java.util.Properties;

import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.MemoryRecordsBuilder;
import org.apache.kafka.common.record.Record;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.server.storage.log.FetchIsolation;
import org.apache.kafka.server.util.KafkaScheduler;
import org.apache.kafka.storage.internals.log.FetchDataInfo;
import org.apache.kafka.storage.internals.log.LogConfig;
import org.apache.kafka.storage.internals.log.LogDirFailureChannel;
import org.apache.kafka.storage.internals.log.ProducerStateManagerConfig;
import org.apache.kafka.storage.internals.log.UnifiedLog;
import org.apache.kafka.storage.log.metrics.BrokerTopicStats;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.appender.ConsoleAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory;
import org.apache.logging.log4j.core.config.builder.impl.BuiltConfiguration;

public class LogBench {
    static final int RECORDS = 1_000_000;        // batch-of-100 append and full read
    static final int BATCH = 100;
    static final int SINGLE_RECORDS = 200_000;   // batch-of-1 append, kept short
    static final int FETCH_MAX_BYTES = 1 << 20;  // per read call, as partlog's bench

    static final KafkaScheduler scheduler = new KafkaScheduler(1);
    static final BrokerTopicStats topicStats = new BrokerTopicStats();

    public static void main(String[] args) throws Exception {
        quietLogging();
        boolean quick = Arrays.asList(args).contains("--quick");
        int samples = quick ? 3 : 10, warmups = quick ? 3 : 5;   // JIT needs several rounds

        byte[][] events = events();
        long payload = 0;
        for (byte[] e : events) payload += e.length;
        System.err.printf("%d records, %.1f bytes each on average; %d warm-up rounds, %d samples%n",
                RECORDS, (double) payload / RECORDS, warmups, samples);
        System.out.println("kafka-version " + AppInfoParser.getVersion());
        scheduler.startup();

        // Appends in batches of 100: a fresh log per round; only the append loop is timed
        // (opening and deleting the log are not, as in partlog's bench).
        double[] rates = new double[samples];
        for (int round = -warmups; round < samples; round++) {
            File dir = freshDir();
            UnifiedLog log = open(dir);
            long t0 = System.nanoTime();
            appendAll(log, events, RECORDS, BATCH);
            long ns = System.nanoTime() - t0;
            check(log.logEndOffset() == RECORDS, "log end offset " + log.logEndOffset());
            discard(log, dir);
            if (round >= 0) rates[round] = RECORDS * 1e9 / ns;
            System.err.printf("append_batch100 %s %.0f records/s%n", round < 0 ? "warm-up" : "sample", RECORDS * 1e9 / ns);
        }
        report("append_batch100", rates);

        // Full reads: one log written once (untimed), then read from offset 0 to the end repeatedly,
        // as partlog's bench reads one open partition over and over. Data stays in the page cache.
        rates = new double[samples];
        {
            File dir = freshDir();
            UnifiedLog log = open(dir);
            appendAll(log, events, RECORDS, BATCH);
            for (int round = -warmups; round < samples; round++) {
                long t0 = System.nanoTime();
                long bytes = readAll(log);
                long ns = System.nanoTime() - t0;
                check(bytes == payload, "read " + bytes + " payload bytes, expected " + payload);
                if (round >= 0) rates[round] = RECORDS * 1e9 / ns;
                System.err.printf("read_full %s %.0f records/s%n", round < 0 ? "warm-up" : "sample", RECORDS * 1e9 / ns);
            }
            discard(log, dir);
        }
        report("read_full", rates);

        // Appends of one record each: one appendAsLeader call (and one batch header) per record.
        rates = new double[samples];
        for (int round = -warmups; round < samples; round++) {
            File dir = freshDir();
            UnifiedLog log = open(dir);
            long t0 = System.nanoTime();
            appendAll(log, events, SINGLE_RECORDS, 1);
            long ns = System.nanoTime() - t0;
            check(log.logEndOffset() == SINGLE_RECORDS, "log end offset " + log.logEndOffset());
            discard(log, dir);
            if (round >= 0) rates[round] = SINGLE_RECORDS * 1e9 / ns;
            System.err.printf("append_batch1 %s %.0f records/s%n", round < 0 ? "warm-up" : "sample", SINGLE_RECORDS * 1e9 / ns);
        }
        report("append_batch1", rates);

        scheduler.shutdown();
        topicStats.close();
    }

    /** The peers bench's `events()`: same format, same bytes. */
    static byte[][] events() {
        String[] actions = {"view", "click", "buy"};
        byte[][] out = new byte[RECORDS][];
        StringBuilder s = new StringBuilder(128);
        for (int i = 0; i < RECORDS; i++) {
            s.setLength(0);
            s.append("{\"id\":").append(i).append(",\"user\":\"user-").append(i % 5000)
             .append("\",\"action\":\"").append(actions[i % 3]).append("\",\"page\":\"/products/").append(i % 997)
             .append("\",\"ts\":").append(1_700_000_000_000L + i).append('}');
            out[i] = s.toString().getBytes(StandardCharsets.UTF_8);
        }
        return out;
    }

    /** A fresh UnifiedLog for partition events-0 (the directory name is how Kafka names it). */
    static UnifiedLog open(File dir) throws Exception {
        Properties props = new Properties();
        props.put(TopicConfig.SEGMENT_BYTES_CONFIG, Integer.toString(1 << 30));   // 1 GiB: one segment
        props.put(TopicConfig.FLUSH_MESSAGES_INTERVAL_CONFIG, Long.toString(Long.MAX_VALUE)); // never
        props.put(TopicConfig.FLUSH_MS_CONFIG, Long.toString(Long.MAX_VALUE));                // never
        props.put(TopicConfig.MESSAGE_TIMESTAMP_TYPE_CONFIG, "CreateTime");
        LogConfig config = new LogConfig(props);
        return UnifiedLog.create(dir, config,
                0L, 0L,                                       // log start offset, recovery point
                scheduler, topicStats, Time.SYSTEM,
                15 * 60 * 1000,                               // transaction.max.timeout.ms default
                new ProducerStateManagerConfig(24 * 60 * 60 * 1000, false),  // producer id expiry default
                10 * 60 * 1000,                               // producer id expiration check interval default
                new LogDirFailureChannel(1),
                true,                                         // last shutdown clean: no recovery
                Optional.empty());                            // no topic id
    }

    /**
     * Builds `count` records into batches of `batch` and appends each as leader (epoch 0). Building
     * is timed because partlog's append encodes the batch too. The build buffer is reused, as the
     * producer's BufferPool reuses its batch buffers: appendAsLeader has copied the bytes into the
     * segment file by the time it returns. The timestamp is taken per batch (partlog stamps "now").
     */
    static void appendAll(UnifiedLog log, byte[][] events, int count, int batch) throws Exception {
        ByteBuffer buffer = ByteBuffer.allocate(16 * 1024);
        for (int i = 0; i < count; i += batch) {
            buffer.clear();
            MemoryRecordsBuilder builder = MemoryRecords.builder(buffer, Compression.NONE, TimestampType.CREATE_TIME, 0L);
            long now = System.currentTimeMillis();
            for (int j = i; j < Math.min(i + batch, count); j++) builder.append(now, (byte[]) null, events[j]);
            log.appendAsLeader(builder.build(), 0);
        }
    }

    /**
     * Reads from offset 0 to the log end, at most 1 MiB per read call, decoding every batch and
     * every record and summing the value sizes. A read returns a slice of the segment file that
     * may end in a partial batch; iteration skips it and the next read starts at its offset.
     */
    static long readAll(UnifiedLog log) throws Exception {
        long next = 0, end = log.logEndOffset(), bytes = 0, records = 0;
        while (next < end) {
            FetchDataInfo fetched = log.read(next, FETCH_MAX_BYTES, FetchIsolation.LOG_END, true);
            for (RecordBatch batch : fetched.records.batches()) {
                for (Record r : batch) {
                    bytes += r.value().remaining();
                    records++;
                }
                next = batch.nextOffset();
            }
        }
        check(records == end, "read " + records + " records, expected " + end);
        return bytes;
    }

    static File freshDir() throws Exception {
        return new File(Files.createTempDirectory("logbench").toFile(), "events-0");
    }

    /**
     * Deletes the log (closes its file channels, unmaps its indexes, removes the files) and its
     * temporary parent. UnifiedLog.close() is not used: it fsyncs the segment, which this
     * page-cache benchmark never asks for and which would only add untimed disk traffic.
     */
    static void discard(UnifiedLog log, File dir) throws Exception {
        log.removeLogMetrics();
        log.delete();
        Utils.delete(dir.getParentFile());
    }

    static void report(String name, double[] rates) {
        double[] s = rates.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        System.out.printf("%s %.0f %.0f %.0f %d%n", name, median, s[0], s[n - 1], n);
        System.out.flush();
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new IllegalStateException(what);
    }

    /** Kafka logs through slf4j to log4j2: WARN and above, to stderr, so stdout stays parseable. */
    static void quietLogging() {
        ConfigurationBuilder<BuiltConfiguration> b = ConfigurationBuilderFactory.newConfigurationBuilder();
        b.add(b.newAppender("stderr", "Console").addAttribute("target", ConsoleAppender.Target.SYSTEM_ERR)
                .add(b.newLayout("PatternLayout").addAttribute("pattern", "%d %p %c{1}: %m%n")));
        b.add(b.newRootLogger(Level.WARN).add(b.newAppenderRef("stderr")));
        Configurator.initialize(b.build());
    }
}
