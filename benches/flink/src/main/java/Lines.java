import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/** What both jobs start from: a local environment and the lines of their input. */
final class Lines {
    private Lines() {}

    /** The environment (a local MiniCluster when run from plain java) at parallelism p. */
    static StreamExecutionEnvironment environment(int p) {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(p);
        return env;
    }

    /** The lines of a file or of the files of a folder, one file per reading subtask. */
    static DataStream<String> of(StreamExecutionEnvironment env, String input) {
        FileSource<String> source =
                FileSource.forRecordStreamFormat(new TextLineInputFormat(), new Path(input)).build();
        return env.fromSource(source, WatermarkStrategy.noWatermarks(), "lines");
    }
}
