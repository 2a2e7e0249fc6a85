import org.apache.storm.Config;
import org.apache.storm.LocalCluster;
import org.apache.storm.spout.SpoutOutputCollector;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.topology.BasicOutputCollector;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.TopologyBuilder;
import org.apache.storm.topology.base.BaseBasicBolt;
import org.apache.storm.topology.base.BaseRichSpout;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Tuple;
import org.apache.storm.tuple.Values;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Storm's word-count topology (storm-starter's WordCountTopology, with the
 * split in Java instead of a Python ShellBolt) in local mode: a spout of
 * lines -> split (shuffle) -> count (fields grouping on the word, a HashMap
 * per task, emitting (word, count) per word as storm-starter's WordCount
 * does) , acking off (no ackers, unanchored tuples).
 *
 * A Storm topology never ends, so the end of the input is observed: the
 * job is done when every spout task has read its files and every line
 * emitted was split and every word emitted was counted (counters shared
 * in the JVM, which LocalCluster is). The counts are then read from the
 * count tasks and the process exits (LocalCluster's shutdown is not timed).
 *
 * Usage: StormWordCount INPUT PARALLELISM, INPUT a file or a folder of
 * part files (spout task i reads files i, i+N, ...).
 * Prints "RESULT words=N distinct=D sum=S".
 */
public class StormWordCount {
    static final AtomicInteger SPOUTS_DONE = new AtomicInteger();
    static final AtomicLong LINES_EMITTED = new AtomicLong();
    static final AtomicLong LINES_SPLIT = new AtomicLong();
    static final AtomicLong WORDS_EMITTED = new AtomicLong();
    static final AtomicLong WORDS_COUNTED = new AtomicLong();
    static final ConcurrentLinkedQueue<Map<String, Long>> COUNTS = new ConcurrentLinkedQueue<>();

    public static void main(String[] args) throws Exception {
        String input = args[0];
        int p = Integer.parseInt(args[1]);
        TopologyBuilder builder = new TopologyBuilder();
        builder.setSpout("lines", new LinesSpout(input), p);
        builder.setBolt("split", new SplitSentence(), p).shuffleGrouping("lines");
        builder.setBolt("count", new WordCount(), p).fieldsGrouping("split", new Fields("word"));
        Config conf = new Config();
        conf.setNumAckers(0);
        conf.setNumWorkers(1);
        LocalCluster cluster = new LocalCluster();
        cluster.submitTopology("word-count", conf, builder.createTopology());
        while (!(SPOUTS_DONE.get() == p && LINES_SPLIT.get() == LINES_EMITTED.get()
                && WORDS_COUNTED.get() == WORDS_EMITTED.get())) {
            Thread.sleep(20);
        }
        Set<String> distinct = new HashSet<>();
        long sum = 0;
        for (Map<String, Long> m : COUNTS) {
            synchronized (m) {
                distinct.addAll(m.keySet());
                for (long c : m.values()) sum += c;
            }
        }
        System.out.printf(Locale.ROOT, "RESULT words=%d distinct=%d sum=%d%n",
                WORDS_EMITTED.get(), distinct.size(), sum);
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** The lines of this task's files, one per nextTuple call. */
    public static class LinesSpout extends BaseRichSpout {
        private final String input;
        private transient SpoutOutputCollector collector;
        private transient List<File> files;
        private transient BufferedReader reader;
        private transient boolean done;

        LinesSpout(String input) {
            this.input = input;
        }

        @Override
        public void open(Map<String, Object> conf, TopologyContext ctx, SpoutOutputCollector collector) {
            this.collector = collector;
            File in = new File(input);
            File[] all = in.isDirectory() ? in.listFiles() : new File[] {in};
            Arrays.sort(all);
            int i = ctx.getThisTaskIndex(), n = ctx.getComponentTasks(ctx.getThisComponentId()).size();
            files = new ArrayList<>();
            for (int k = i; k < all.length; k += n) files.add(all[k]);
        }

        @Override
        public void nextTuple() {
            try {
                while (!done) {
                    if (reader == null) {
                        if (files.isEmpty()) {
                            done = true;
                            SPOUTS_DONE.incrementAndGet();
                            return;
                        }
                        reader = Files.newBufferedReader(files.remove(0).toPath(), StandardCharsets.UTF_8);
                    }
                    String line = reader.readLine();
                    if (line != null) {
                        LINES_EMITTED.incrementAndGet();
                        collector.emit(new Values(line));
                        return;
                    }
                    reader.close();
                    reader = null;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {
            d.declare(new Fields("line"));
        }
    }

    /** A line to its words (benches/words/Words.java). */
    public static class SplitSentence extends BaseBasicBolt {
        @Override
        public void execute(Tuple t, BasicOutputCollector out) {
            Words.split(t.getString(0), w -> {
                WORDS_EMITTED.incrementAndGet();
                out.emit(new Values(w));
            });
            LINES_SPLIT.incrementAndGet();
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {
            d.declare(new Fields("word"));
        }
    }

    /** storm-starter's WordCount: a count per word, emitting (word, count). */
    public static class WordCount extends BaseBasicBolt {
        private transient Map<String, Long> counts;

        @Override
        public void prepare(Map<String, Object> conf, TopologyContext ctx) {
            counts = new HashMap<>();
            COUNTS.add(counts);
        }

        @Override
        public void execute(Tuple t, BasicOutputCollector out) {
            String word = t.getString(0);
            long c;
            synchronized (counts) {
                c = counts.merge(word, 1L, Long::sum);
            }
            out.emit(new Values(word, c));
            WORDS_COUNTED.incrementAndGet();
        }

        @Override
        public void declareOutputFields(OutputFieldsDeclarer d) {
            d.declare(new Fields("word", "count"));
        }
    }
}
