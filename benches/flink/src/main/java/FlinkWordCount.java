import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

import java.util.Locale;

/**
 * The word count of scripts/bench-vs-flink.sh: FileSource lines -> words
 * (benches/words/Words.java) ->
 * keyBy(word) -> a count in keyed ValueState, emitted once per word when
 * the input ends (an event-time timer at Long.MAX_VALUE fires on the final
 * watermark) -> Totals (accumulators) -> discarding sink.
 *
 * Usage: FlinkWordCount INPUT PARALLELISM, INPUT a file or a folder of part
 * files (a FileSource does not split a text file: one file is read by one
 * subtask). Prints "RESULT words=N distinct=D sum=S".
 */
public class FlinkWordCount {
    public static void main(String[] args) throws Exception {
        int p = Integer.parseInt(args[1]);
        StreamExecutionEnvironment env = Lines.environment(p);
        Lines.of(env, args[0])
                .flatMap(new Split()).name("split")
                .keyBy((KeySelector<String, String>) w -> w)
                .process(new FinalCount()).name("count")
                .map(new Totals<>(t -> t.f1)).returns(Types.TUPLE(Types.STRING, Types.LONG)).name("totals")
                .sinkTo(new DiscardingSink<>()).name("discard");
        JobExecutionResult r = env.execute("wordcount-p" + p);
        System.out.printf(Locale.ROOT, "RESULT words=%d distinct=%d sum=%d%n",
                (long) r.getAccumulatorResult("words"), (long) r.getAccumulatorResult("out_records"),
                (long) r.getAccumulatorResult("out_sum"));
    }

    /** A line to its words, counted in the accumulator "words". */
    public static class Split extends RichFlatMapFunction<String, String> {
        private final LongCounter words = new LongCounter();

        @Override
        public void open(OpenContext ctx) {
            getRuntimeContext().addAccumulator("words", words);
        }

        @Override
        public void flatMap(String line, Collector<String> out) {
            Words.split(line, w -> {
                words.add(1L);
                out.collect(w);
            });
        }
    }

    /** The count per word in keyed state; the final count when input ends. */
    public static class FinalCount extends KeyedProcessFunction<String, String, Tuple2<String, Long>> {
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(String w, Context ctx, Collector<Tuple2<String, Long>> out) throws Exception {
            Long c = count.value();
            if (c == null) {
                c = 0L;
                ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
            }
            count.update(c + 1);
        }

        @Override
        public void onTimer(long ts, OnTimerContext ctx, Collector<Tuple2<String, Long>> out) throws Exception {
            out.collect(Tuple2.of(ctx.getCurrentKey(), count.value()));
        }
    }
}
