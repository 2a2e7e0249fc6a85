import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import java.time.Duration;
import java.util.Locale;

/**
 * The windows of scripts/bench-vs-flink.sh: CSV lines "ts_ms,key,value"
 * (the header line skipped) -> event time from ts_ms, bounded
 * out-of-orderness watermarks of 2 s assigned after parsing (per source
 * subtask, as Squall's csv spout does per task) -> keyBy(key) -> tumbling
 * 10 s event-time windows summing value (an incremental aggregate) ->
 * (window start, key, sum) -> Totals (accumulators) -> discarding sink.
 *
 * Usage: FlinkWindowSum INPUT PARALLELISM, INPUT a file or a folder of
 * part files each covering the whole time range (one per subtask), so
 * that no subtask sees events older than its watermark.
 * Prints "RESULT events=N pairs=P sum=S".
 */
public class FlinkWindowSum {
    public static void main(String[] args) throws Exception {
        int p = Integer.parseInt(args[1]);
        StreamExecutionEnvironment env = Lines.environment(p);
        Lines.of(env, args[0])
                .flatMap(new Parse()).name("parse")
                .assignTimestampsAndWatermarks(
                        WatermarkStrategy.<Tuple3<Long, String, Long>>forBoundedOutOfOrderness(Duration.ofMillis(2000))
                                .withTimestampAssigner((e, ts) -> e.f0))
                .keyBy((KeySelector<Tuple3<Long, String, Long>, String>) e -> e.f1)
                .window(TumblingEventTimeWindows.of(Duration.ofMillis(10_000)))
                .aggregate(new Sum(), new Emit()).name("window-sum")
                .map(new Totals<>(t -> t.f2)).returns(Types.TUPLE(Types.LONG, Types.STRING, Types.LONG)).name("totals")
                .sinkTo(new DiscardingSink<>()).name("discard");
        JobExecutionResult r = env.execute("windowsum-p" + p);
        System.out.printf(Locale.ROOT, "RESULT events=%d pairs=%d sum=%d%n",
                (long) r.getAccumulatorResult("events"), (long) r.getAccumulatorResult("out_records"),
                (long) r.getAccumulatorResult("out_sum"));
    }

    /** "ts,key,value" -> (ts, key, value), the header skipped; counted in "events". */
    public static class Parse extends RichFlatMapFunction<String, Tuple3<Long, String, Long>> {
        private final LongCounter events = new LongCounter();

        @Override
        public void open(OpenContext ctx) {
            getRuntimeContext().addAccumulator("events", events);
        }

        @Override
        public void flatMap(String line, Collector<Tuple3<Long, String, Long>> out) {
            if (line.startsWith("ts_ms")) return;
            events.add(1L);
            int c1 = line.indexOf(','), c2 = line.indexOf(',', c1 + 1);
            out.collect(Tuple3.of(Long.parseLong(line, 0, c1, 10), line.substring(c1 + 1, c2),
                    Long.parseLong(line, c2 + 1, line.length(), 10)));
        }
    }

    public static class Sum implements AggregateFunction<Tuple3<Long, String, Long>, Long, Long> {
        public Long createAccumulator() { return 0L; }
        public Long add(Tuple3<Long, String, Long> e, Long acc) { return acc + e.f2; }
        public Long getResult(Long acc) { return acc; }
        public Long merge(Long a, Long b) { return a + b; }
    }

    /** (window start, key, sum). */
    public static class Emit extends ProcessWindowFunction<Long, Tuple3<Long, String, Long>, String, TimeWindow> {
        @Override
        public void process(String key, Context ctx, Iterable<Long> sums, Collector<Tuple3<Long, String, Long>> out) {
            out.collect(Tuple3.of(ctx.window().getStart(), key, sums.iterator().next()));
        }
    }
}
