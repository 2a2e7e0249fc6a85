import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.*;
import java.util.stream.Collectors;

/**
 * Set-up and checks for scripts/bench-kafka-flink.sh (not measured):
 *
 *   create BROKERS TOPIC PARTITIONS
 *   produce BROKERS TOPIC N CORPUS_DIR   N non-empty lines of the first 4
 *       plays (sorted by name), cycled, one record each; prints the
 *       reference: words=W distinct=D
 *   count BROKERS TOPIC   reads the topic read_committed up to its end
 *       offsets; the records are {"word":w,"count":c}; prints
 *       records=R distinct=D digest=H (H over the sorted word -> highest count)
 */
public class KafkaTool {
    public static void main(String[] args) throws Exception {
        String brokers = args[1];
        switch (args[0]) {
            case "create": {
                try (Admin a = Admin.create(Map.of("bootstrap.servers", brokers))) {
                    a.createTopics(List.of(new NewTopic(args[2], Integer.parseInt(args[3]), (short) 1))).all().get();
                }
                break;
            }
            case "produce": produce(brokers, args[2], Integer.parseInt(args[3]), Path.of(args[4])); break;
            case "count": count(brokers, args[2]); break;
            default: throw new IllegalArgumentException(args[0]);
        }
    }

    static void produce(String brokers, String topic, int n, Path dir) throws Exception {
        List<Path> files;
        try (var s = Files.list(dir)) {
            files = s.sorted().limit(4).collect(Collectors.toList());
        }
        List<String> all = new ArrayList<>();
        for (Path f : files) {
            String text = new String(Files.readAllBytes(f), StandardCharsets.UTF_8);
            for (String l : text.split("\r?\n", -1)) if (!l.isBlank()) all.add(l);
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", brokers);
        p.put("enable.idempotence", "true");
        p.put("linger.ms", "5");
        long words = 0;
        Map<String, Long> counts = new HashMap<>();
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < n; i++) {
                String line = all.get(i % all.size());
                List<String> ws = new ArrayList<>();
                new FlinkKafkaWordCount.Split().flatMap(line, new org.apache.flink.util.Collector<>() {
                    public void collect(org.apache.flink.api.java.tuple.Tuple2<String, Long> t) { ws.add(t.f0); }
                    public void close() {}
                });
                for (String w : ws) counts.merge(w, 1L, Long::sum);
                words += ws.size();
                prod.send(new ProducerRecord<>(topic, line));
            }
            prod.flush();
        }
        System.out.println("words=" + words + " distinct=" + counts.size() + " digest=" + digest(counts));
    }

    static void count(String brokers, String topic) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", brokers);
        p.put("isolation.level", "read_committed");
        p.put("enable.auto.commit", "false");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).collect(Collectors.toList());
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long records = 0;
            Map<String, Long> max = new HashMap<>();
            long deadline = System.currentTimeMillis() + 300_000;
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.currentTimeMillis() > deadline) throw new RuntimeException("timed out reading " + topic);
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    records++;
                    String v = new String(r.value(), StandardCharsets.UTF_8);
                    // {"word":"w","count":c} (Squall may order the fields either way)
                    String w = field(v, "\"word\":\"", "\"");
                    long n = Long.parseLong(field(v, "\"count\":", ",}").trim());
                    max.merge(w, n, Math::max);
                }
            }
            System.out.println("records=" + records + " distinct=" + max.size() + " digest=" + digest(max));
        }
    }

    static String field(String v, String prefix, String enders) {
        int s = v.indexOf(prefix);
        if (s < 0) throw new IllegalArgumentException("no " + prefix + " in " + v);
        s += prefix.length();
        int e = s;
        while (e < v.length() && enders.indexOf(v.charAt(e)) < 0) e++;
        return v.substring(s, e);
    }

    static String digest(Map<String, Long> counts) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (var e : new TreeMap<>(counts).entrySet()) md.update((e.getKey() + "\t" + e.getValue() + "\n").getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(md.digest()).substring(0, 16);
    }
}
