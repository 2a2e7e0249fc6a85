import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.Collector;

import java.nio.charset.StandardCharsets;

/**
 * Kafka -> split -> keyBy(word) -> sum -> Kafka, exactly-once, the same
 * topology as Squall's side of scripts/bench-kafka-flink.sh:
 * KafkaSource from the earliest to the latest offsets at start (bounded,
 * read_committed), words split as Squall's split_words (maximal runs of
 * letters or digits, lowercased), a running count per word, one output
 * record per input word: key = word, value = {"word":..,"count":..}, into a
 * transactional KafkaSink (EXACTLY_ONCE), checkpoints every second,
 * parallelism 2. A bounded source finishes; Flink's final checkpoint
 * (FLIP-147) commits the last transaction.
 *
 * Usage: FlinkKafkaWordCount BROKERS INPUT_TOPIC OUTPUT_TOPIC [PARALLELISM]
 */
public class FlinkKafkaWordCount {
    public static void main(String[] args) throws Exception {
        String brokers = args[0], input = args[1], output = args[2];
        int p = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(p);
        env.enableCheckpointing(1000); // exactly-once is the default mode

        KafkaSource<String> source = KafkaSource.<String>builder()
                .setBootstrapServers(brokers)
                .setTopics(input)
                .setGroupId("flink-wc-" + output)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setBounded(OffsetsInitializer.latest())
                .setValueOnlyDeserializer(new SimpleStringSchema())
                .setProperty("isolation.level", "read_committed")
                .build();
        KafkaSink<Tuple2<String, Long>> sink = KafkaSink.<Tuple2<String, Long>>builder()
                .setBootstrapServers(brokers)
                .setRecordSerializer(KafkaRecordSerializationSchema.<Tuple2<String, Long>>builder()
                        .setTopic(output)
                        .setKeySerializationSchema(new Key())
                        .setValueSerializationSchema(new Json())
                        .build())
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix("flink-wc-" + output)
                // Below the broker's transaction.max.timeout.ms (15 min).
                .setProperty("transaction.timeout.ms", "600000")
                .build();

        env.fromSource(source, WatermarkStrategy.noWatermarks(), "kafka")
                .flatMap(new Split()).name("split")
                .keyBy(new Word())
                .sum(1).name("count")
                .sinkTo(sink).name("sink");
        long t0 = System.nanoTime();
        env.execute("flink-kafka-wordcount");
        System.out.printf("RESULT flink job_s=%.3f%n", (System.nanoTime() - t0) / 1e9);
    }

    /** As Squall's split_words: maximal runs of letters or digits, lowercased. */
    public static class Split implements FlatMapFunction<String, Tuple2<String, Long>> {
        @Override
        public void flatMap(String line, Collector<Tuple2<String, Long>> out) {
            int n = line.length(), i = 0;
            while (i < n) {
                while (i < n && !Character.isLetterOrDigit(line.codePointAt(i))) i += Character.charCount(line.codePointAt(i));
                int start = i;
                while (i < n && Character.isLetterOrDigit(line.codePointAt(i))) i += Character.charCount(line.codePointAt(i));
                if (i > start) out.collect(Tuple2.of(line.substring(start, i).toLowerCase(), 1L));
            }
        }
    }

    public static class Word implements KeySelector<Tuple2<String, Long>, String> {
        @Override
        public String getKey(Tuple2<String, Long> t) {
            return t.f0;
        }
    }

    public static class Key implements SerializationSchema<Tuple2<String, Long>> {
        @Override
        public byte[] serialize(Tuple2<String, Long> t) {
            return t.f0.getBytes(StandardCharsets.UTF_8);
        }
    }

    /** {"word":..,"count":..} as Squall's sink writes a tuple (words need no escaping). */
    public static class Json implements SerializationSchema<Tuple2<String, Long>> {
        @Override
        public byte[] serialize(Tuple2<String, Long> t) {
            return ("{\"word\":\"" + t.f0 + "\",\"count\":" + t.f1 + "}").getBytes(StandardCharsets.UTF_8);
        }
    }
}
