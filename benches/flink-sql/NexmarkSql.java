// Runs Nexmark SQL files on Flink SQL (a TableEnvironment in streaming
// mode, a local MiniCluster in this JVM): the same text that `squall sql`
// runs, crates/squall-sql/nexmark/ddl-files.sql and a query file, with
// ${NAME} (or ${NAME:-default}) replaced from NAME=VALUE arguments. With
// SINK=blackhole the sink's `path` option is dropped (Flink's blackhole
// connector refuses options it does not know).
//
// Usage: java -cp CLASSES:pyflink/lib/* NexmarkSql PARALLELISM NAME=VALUE... FILE.sql...
// Prints `RESULT elapsed_s=...` once the bounded job has finished.

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;

public class NexmarkSql {
    public static void main(String[] args) throws Exception {
        int parallelism = Integer.parseInt(args[0]);
        Map<String, String> values = new HashMap<>();
        StringBuilder text = new StringBuilder();
        for (int i = 1; i < args.length; i++) {
            if (args[i].endsWith(".sql")) {
                text.append(Files.readString(Path.of(args[i]))).append("\n;\n");
            } else {
                String[] kv = args[i].split("=", 2);
                values.put(kv[0], kv[1]);
            }
        }
        Matcher m = Pattern.compile("\\$\\{([^}]*)\\}").matcher(text);
        StringBuilder sql = new StringBuilder();
        while (m.find()) {
            String[] nd = m.group(1).split(":-", 2);
            String v = values.containsKey(nd[0]) ? values.get(nd[0]) : nd.length > 1 ? nd[1] : null;
            if (v == null) {
                throw new IllegalArgumentException("the script uses ${" + nd[0] + "}: give NAME=VALUE");
            }
            m.appendReplacement(sql, Matcher.quoteReplacement(v));
        }
        m.appendTail(sql);
        String script = sql.toString().replaceAll("--[^\n]*", "");
        if ("blackhole".equals(values.get("SINK"))) {
            script = script.replaceAll(",\\s*'path'\\s*=\\s*'[^']*'(?=\\s*\\))", "");
        }
        TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
        t.getConfig().set("parallelism.default", Integer.toString(parallelism));
        t.getConfig().set("pipeline.object-reuse", "true");
        long started = System.nanoTime();
        List<String> inserts = new ArrayList<>();
        for (String s : script.split(";")) {
            String st = s.strip();
            if (st.isEmpty()) {
                continue;
            }
            if (st.toUpperCase().startsWith("INSERT")) {
                inserts.add(st);
            } else {
                t.executeSql(st);
            }
        }
        if (inserts.size() != 1) {
            throw new IllegalArgumentException("one INSERT statement expected, not " + inserts.size());
        }
        t.executeSql(inserts.get(0)).await();
        System.out.printf("RESULT elapsed_s=%.3f%n", (System.nanoTime() - started) / 1e9);
    }
}
