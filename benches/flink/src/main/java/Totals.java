import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;

import java.io.Serializable;

/**
 * Passes records through, counting them ("out_records") and summing one
 * number of each ("out_sum") in accumulators: the totals the bench checks
 * against the generator's.
 */
public class Totals<T> extends RichMapFunction<T, T> {
    /** The number of a record to sum. */
    public interface Number<T> extends Serializable {
        long of(T record);
    }

    private final Number<T> number;
    private final LongCounter records = new LongCounter();
    private final LongCounter sum = new LongCounter();

    public Totals(Number<T> number) {
        this.number = number;
    }

    @Override
    public void open(OpenContext ctx) {
        getRuntimeContext().addAccumulator("out_records", records);
        getRuntimeContext().addAccumulator("out_sum", sum);
    }

    @Override
    public T map(T record) {
        records.add(1L);
        sum.add(number.of(record));
        return record;
    }
}
