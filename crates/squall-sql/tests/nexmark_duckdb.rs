//! Nexmark queries on Squall against DuckDB: the events are generated once
//! into CSV files; Squall runs the query as SQL (reading the `nexmark`
//! connector, which makes the same events, or the files), DuckDB runs the
//! same query as batch SQL over the files, and the complete outputs are
//! compared row for row (windowed queries: everything, after the final
//! watermark of the bounded input). Needs `python3 -m pip install duckdb`
//! (scripts/setup.sh).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use squall_sql::nexmark::GeneratorConfig;
use squall_test_support::duckdb::{self, compare, upserted};

/// Events generated (all kinds): 46 000 bids, 3 000 auctions, 1 000
/// persons, over 20 s of event time (2 500 events per second).
const EVENTS: u64 = 50_000;
const RATE: &str = "2500";

fn events_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // In cargo's folder for test files, one per input size: each run
        // writes the same bytes again (the generator is deterministic)
        // instead of leaving a folder per process in /tmp.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nexmark-{EVENTS}"));
        let config = GeneratorConfig { rate: RATE.parse().unwrap(), ..Default::default() };
        squall_sql::nexmark_files::write_files(&dir, &config, EVENTS, false).unwrap();
        dir
    })
}

const DDL_NEXMARK: &str = include_str!("../nexmark/ddl.sql");

/// The same tables over the CSV files.
fn ddl_files(dir: &Path) -> String {
    DDL_NEXMARK
        .replace("'connector' = 'nexmark',", "'connector' = 'filesystem', 'format' = 'csv',")
        .replace(
            "'table' = 'person',",
            &format!("'path' = '{}',", dir.join("person.csv").display()),
        )
        .replace(
            "'table' = 'auction',",
            &format!("'path' = '{}',", dir.join("auction.csv").display()),
        )
        .replace("'table' = 'bid',", &format!("'path' = '{}',", dir.join("bid.csv").display()))
}

/// Runs `ddl` + `query` (whose sink writes to ${OUT}) and reads every row
/// the sink committed.
fn squall(ddl: &str, query: &str, parallelism: usize) -> Vec<Vec<String>> {
    squall_with(ddl, query, parallelism, squall_sql::Session::new())
}

fn squall_with(
    ddl: &str,
    query: &str,
    parallelism: usize,
    mut s: squall_sql::Session,
) -> Vec<Vec<String>> {
    let out = tempfile::tempdir().unwrap();
    s.set("parallelism", &parallelism.to_string()).unwrap();
    s.set("EVENTS_NUM", &EVENTS.to_string()).unwrap();
    s.set("TPS", RATE).unwrap();
    s.set("SINK", "filesystem").unwrap();
    s.set("OUT", out.path().to_str().unwrap()).unwrap();
    let script = format!("{ddl};\n{query}");
    s.run_script(&script).unwrap_or_else(|e| panic!("{e}"));
    duckdb::csv_rows(out.path())
}

/// Runs `query` in DuckDB over the CSV files as tables person, auction, bid.
fn duckdb(query: &str) -> Vec<Vec<String>> {
    let d = events_dir().display().to_string();
    let view = |name: &str, columns: &str| {
        format!(
            "CREATE VIEW {name} AS SELECT * FROM read_csv('{d}/{name}.csv', header=false, quote='\"', columns={{{columns}}})"
        )
    };
    let person = view("person", "'id':'BIGINT','name':'VARCHAR','emailAddress':'VARCHAR','creditCard':'VARCHAR','city':'VARCHAR','state':'VARCHAR','dateTime':'TIMESTAMP','extra':'VARCHAR'");
    let auction = view("auction", "'id':'BIGINT','itemName':'VARCHAR','description':'VARCHAR','initialBid':'BIGINT','reserve':'BIGINT','dateTime':'TIMESTAMP','expires':'TIMESTAMP','seller':'BIGINT','category':'BIGINT','extra':'VARCHAR'");
    let bid = view("bid", "'auction':'BIGINT','bidder':'BIGINT','price':'BIGINT','channel':'VARCHAR','url':'VARCHAR','dateTime':'TIMESTAMP','extra':'VARCHAR'");
    duckdb::query(&[&person, &auction, &bid, query])
}

fn query_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("nexmark").join(name))
        .unwrap()
}

#[test]
fn q0_pass_through() {
    let ours = squall(DDL_NEXMARK, &query_file("q0.sql"), 2);
    let theirs = duckdb(r#"SELECT auction, bidder, price, "dateTime", extra FROM bid"#);
    compare("q0", ours, theirs);
}

#[test]
fn q1_currency_conversion() {
    let ours = squall(DDL_NEXMARK, &query_file("q1.sql"), 2);
    let theirs = duckdb(
        r#"SELECT auction, bidder, CAST(0.908 AS DOUBLE) * price AS price, "dateTime", extra FROM bid"#,
    );
    compare("q1", ours, theirs);
}

#[test]
fn q2_selection_from_files() {
    // Squall reads the CSV files here (the filesystem connector).
    let ours = squall(&ddl_files(events_dir()), &query_file("q2.sql"), 2);
    let theirs = duckdb("SELECT auction, price FROM bid WHERE auction % 123 = 0");
    compare("q2", ours, theirs);
}

#[test]
fn q3_local_item_suggestion_join() {
    let ours = squall(DDL_NEXMARK, &query_file("q3.sql"), 2);
    let theirs = duckdb(
        "SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P on A.seller = P.id
         WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')",
    );
    compare("q3", ours, theirs);
}

#[test]
fn q4_average_price_per_category_as_an_updating_result() {
    let changelog = squall(DDL_NEXMARK, &query_file("q4.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "the averages were updated");
    let theirs = duckdb(
        r#"SELECT Q.category, AVG(Q.final) FROM (
             SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
             WHERE A.id = B.auction AND B."dateTime" BETWEEN A."dateTime" AND A.expires
             GROUP BY A.id, A.category) Q
           GROUP BY Q.category"#,
    );
    compare("q4", upserted(changelog), theirs);
}

#[test]
fn q5_hot_items() {
    let ours = squall(DDL_NEXMARK, &query_file("q5.sql"), 2);
    let hop = duck_hop("bid", 2000, 10_000);
    let theirs = duckdb(&format!(
        "WITH c AS (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
                    FROM {hop} GROUP BY auction, window_start, window_end),
              m AS (SELECT max(num) AS maxn, starttime, endtime FROM c GROUP BY starttime, endtime)
         SELECT c.auction, c.num FROM c JOIN m ON c.starttime = m.starttime AND c.endtime = m.endtime
         AND c.num >= m.maxn"
    ));
    compare("q5", ours, theirs);
}

#[test]
fn q7_highest_bid() {
    let ours = squall(DDL_NEXMARK, &query_file("q7.sql"), 2);
    let tumble = duck_hop("bid", 10_000, 10_000);
    let theirs = duckdb(&format!(
        "SELECT B.auction, B.price, B.bidder, B.\"dateTime\", B.extra FROM bid B
         JOIN (SELECT MAX(price) AS maxprice, window_end AS \"dateTime\" FROM {tumble} GROUP BY window_start, window_end) B1
         ON B.price = B1.maxprice
         WHERE B.\"dateTime\" BETWEEN B1.\"dateTime\" - INTERVAL '10' SECOND AND B1.\"dateTime\""
    ));
    compare("q7", ours, theirs);
}

#[test]
fn q8_monitor_new_users() {
    let ours = squall(DDL_NEXMARK, &query_file("q8.sql"), 2);
    let (p, a) = (duck_hop("person", 10_000, 10_000), duck_hop("auction", 10_000, 10_000));
    let theirs = duckdb(&format!(
        "SELECT P.id, P.name, P.starttime FROM
           (SELECT id, name, window_start AS starttime, window_end AS endtime FROM {p}
            GROUP BY id, name, window_start, window_end) P
         JOIN (SELECT seller, window_start AS starttime, window_end AS endtime FROM {a}
            GROUP BY seller, window_start, window_end) A
         ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime"
    ));
    compare("q8", ours, theirs);
}

#[test]
fn q20_expand_bid_with_auction() {
    let ours = squall(DDL_NEXMARK, &query_file("q20.sql"), 2);
    let theirs = duckdb(
        r#"SELECT auction, bidder, price, channel, url, B."dateTime", B.extra,
                  itemName, description, initialBid, reserve, A."dateTime", expires, seller, category, A.extra
           FROM bid AS B INNER JOIN auction AS A on B.auction = A.id WHERE A.category = 10"#,
    );
    compare("q20", ours, theirs);
}

/// DuckDB's aggregates of q15 and q16: bids, distinct bidders and distinct
/// auctions, in all and per price rank.
fn duck_rank_counts() -> String {
    let ranks = ["price < 10000", "price >= 10000 and price < 1000000", "price >= 1000000"];
    let mut out = Vec::new();
    for what in ["*", "distinct bidder", "distinct auction"] {
        out.push(format!("count({what})"));
        for r in ranks {
            out.push(format!("count({what}) filter (where {r})"));
        }
    }
    out.join(", ")
}

#[test]
fn q15_bidding_statistics_per_day_with_date_format() {
    let changelog = squall(DDL_NEXMARK, &query_file("q15.sql"), 2);
    let theirs = duckdb(&format!(
        r#"SELECT strftime("dateTime", '%Y-%m-%d'), {} FROM bid GROUP BY 1"#,
        duck_rank_counts()
    ));
    compare("q15", upserted(changelog), theirs);
}

#[test]
fn q16_channel_statistics_per_day() {
    let changelog = squall(DDL_NEXMARK, &query_file("q16.sql"), 2);
    let theirs = duckdb(&format!(
        r#"SELECT channel, strftime("dateTime", '%Y-%m-%d'), max(strftime("dateTime", '%H:%M')), {}
           FROM bid GROUP BY 1, 2"#,
        duck_rank_counts()
    ));
    compare("q16", upserted(changelog), theirs);
}

#[test]
fn q17_auction_statistics_per_day() {
    let changelog = squall(DDL_NEXMARK, &query_file("q17.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "the statistics were updated");
    let theirs = duckdb(
        r#"SELECT auction, strftime("dateTime", '%Y-%m-%d'), count(*),
                  count(*) filter (where price < 10000),
                  count(*) filter (where price >= 10000 and price < 1000000),
                  count(*) filter (where price >= 1000000),
                  min(price), max(price), CAST(trunc(avg(price)) AS BIGINT), sum(price)
           FROM bid GROUP BY 1, 2"#,
    );
    compare("q17", upserted(changelog), theirs);
}

#[test]
fn q21_channel_id_with_regexp_extract() {
    let ours = squall(DDL_NEXMARK, &query_file("q21.sql"), 2);
    // DuckDB's regexp_extract gives '' where Flink's gives NULL (no match).
    let pat = "'(&|^)channel_id=([^&]*)'";
    let theirs = duckdb(&format!(
        "SELECT auction, bidder, price, channel,
           CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
                WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
                WHEN regexp_matches(url, {pat}) THEN regexp_extract(url, {pat}, 2) END
         FROM bid
         WHERE regexp_matches(url, {pat}) OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')"
    ));
    assert!(
        theirs.iter().any(|r| !["0", "1", "2", "3"].contains(&r[4].as_str())),
        "some channel ids come from urls"
    );
    compare("q21", ours, theirs);
}

#[test]
fn q22_url_directories_with_split_index() {
    let ours = squall(DDL_NEXMARK, &query_file("q22.sql"), 2);
    // DuckDB's lists count from 1 and are NULL past the end, as SPLIT_INDEX.
    let theirs = duckdb(
        "SELECT auction, bidder, price, channel, string_split(url, '/')[4],
                string_split(url, '/')[5], string_split(url, '/')[6] FROM bid",
    );
    compare("q22", ours, theirs);
}

/// DuckDB's HOP: each bid in the windows [s, s + size) with s a multiple of
/// slide and s <= t < s + size.
fn duck_hop(table: &str, slide_ms: i64, size_ms: i64) -> String {
    format!(
        "(SELECT b.*, make_timestamp((epoch_ms(b.\"dateTime\") - epoch_ms(b.\"dateTime\") % {slide_ms} - k.i * {slide_ms}) * 1000) AS window_start,
                 make_timestamp((epoch_ms(b.\"dateTime\") - epoch_ms(b.\"dateTime\") % {slide_ms} - k.i * {slide_ms} + {size_ms}) * 1000) AS window_end
          FROM {table} b, range(0, {n}) AS k(i))",
        n = size_ms / slide_ms
    )
}

#[test]
fn hop_count_per_auction_q5_inner() {
    // The windowed part of q5: bids per auction in 10 s windows every 2 s.
    let ours = squall(
        DDL_NEXMARK,
        "CREATE TABLE out (auction BIGINT, num BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
         FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
         GROUP BY auction, window_start, window_end",
        2,
    );
    let theirs = duckdb(&format!(
        "SELECT auction, count(*), window_start, window_end FROM {} GROUP BY auction, window_start, window_end",
        duck_hop("bid", 2000, 10_000)
    ));
    compare("hop count per auction", ours, theirs);
}

#[test]
fn tumble_max_price_q7_inner_and_every_aggregate() {
    // The windowed part of q7 (the highest bid per 10 s window), with every
    // aggregate Squall runs, per channel class.
    let ours = squall(
        DDL_NEXMARK,
        "CREATE TABLE out (hot BOOLEAN, window_start TIMESTAMP(3), window_end TIMESTAMP(3), maxprice BIGINT,
                           minprice BIGINT, n BIGINT, total BIGINT, mean DOUBLE, bidders BIGINT, cheap BIGINT)
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT channel IN ('Google', 'Facebook', 'Baidu', 'Apple') AS hot, window_start, window_end,
                MAX(price), MIN(price), COUNT(*), SUM(price), AVG(price), COUNT(DISTINCT bidder),
                COUNT(*) FILTER (WHERE price < 10000)
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
         GROUP BY channel IN ('Google', 'Facebook', 'Baidu', 'Apple'), window_start, window_end",
        2,
    );
    let theirs = duckdb(&format!(
        "SELECT channel IN ('Google', 'Facebook', 'Baidu', 'Apple') AS hot, window_start, window_end,
                MAX(price), MIN(price), COUNT(*), SUM(price), AVG(price), COUNT(DISTINCT bidder),
                COUNT(*) FILTER (WHERE price < 10000)
         FROM {} GROUP BY hot, window_start, window_end",
        duck_hop("bid", 10_000, 10_000)
    ));
    compare("tumble aggregates", ours, theirs);
}

/// Fails its bolt once, on the `after`-th tuple of the first task that gets
/// there, across restarts.
struct FailOnce {
    inner: Box<dyn squall::Bolt>,
    seen: u64,
    after: u64,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl squall::Bolt for FailOnce {
    fn declare_outputs(&self, d: &mut squall::topology::OutputDeclarer) {
        self.inner.declare_outputs(d)
    }
    fn prepare(&mut self, c: &squall::TopologyContext) -> squall::Result<()> {
        self.inner.prepare(c)
    }
    fn execute(&mut self, t: squall::Tuple, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.seen += 1;
        if self.seen == self.after && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(squall::Error::TaskFailed("injected failure".into()));
        }
        self.inner.execute(t, c)
    }
    fn on_watermark(&mut self, w: i64, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.inner.on_watermark(w, c)
    }
    fn tick_interval(&self) -> Option<std::time::Duration> {
        self.inner.tick_interval()
    }
    fn on_tick(&mut self, now: i64, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.inner.on_tick(now, c)
    }
    fn finish(&mut self, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.inner.finish(c)
    }
    fn snapshot_state(&mut self, id: u64) -> squall::Result<()> {
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> squall::Result<()> {
        self.inner.on_checkpoint_complete(id)
    }
    fn cleanup(&mut self) {
        self.inner.cleanup()
    }
    fn ack_mode(&self) -> squall::AckMode {
        self.inner.ack_mode()
    }
}

/// Runs `query` exactly-once with checkpoints every 100 ms, the source
/// slowed to about 2 s; the first keyed operator (`process...`) fails once,
/// at a random tuple up to its `after`-th, and the topology restarts from
/// its last checkpoint. Returns the committed rows.
fn exactly_once_with_one_failure(query: &str, after: u64) -> Vec<Vec<String>> {
    // The failure comes at a random record of a keyed task, in
    // [after / 4, after]; the seed is printed, `SQUALL_FAIL_SEED` replays it.
    let seed: u64 =
        std::env::var("SQUALL_FAIL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            u64::from(now.subsec_nanos())
        });
    let after = after / 4 + seed % (after - after / 4 + 1);
    eprintln!("injected failure at record {after} of a keyed task (SQUALL_FAIL_SEED={seed})");
    let (s, failed, _checkpoints) = failing_once(|id| id.starts_with("process"), after);
    let ddl = slowed_ddl();
    let ours = squall_with(&ddl, query, 2, s);
    assert!(failed.load(std::sync::atomic::Ordering::SeqCst), "the failure was not injected");
    ours
}

/// A session running exactly-once with checkpoints every 100 ms (into the
/// returned folder) and up to 3 restarts, where the first task of a
/// component `wrapped` names fails once at its `after`-th tuple (the flag
/// says it did).
fn failing_once(
    wrapped: impl Fn(&str) -> bool + Send + Sync + 'static,
    after: u64,
) -> (squall_sql::Session, std::sync::Arc<std::sync::atomic::AtomicBool>, tempfile::TempDir) {
    let checkpoints = tempfile::tempdir().unwrap();
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = failed.clone();
    let mut s = squall_sql::Session::new();
    s.set("guarantee", "exactly_once").unwrap();
    s.set("checkpoint_interval_ms", "100").unwrap();
    s.set("checkpoint_dir", checkpoints.path().to_str().unwrap()).unwrap();
    s.config.restart_strategy =
        serde_yaml_ng::from_str("{type: fixed_delay, attempts: 3, delay_ms: 50}").unwrap();
    s.wrap = Some(std::sync::Arc::new(
        move |id: &str, b: Box<dyn squall::Bolt>| -> Box<dyn squall::Bolt> {
            if wrapped(id) {
                Box::new(FailOnce { inner: b, seen: 0, after, failed: f.clone() })
            } else {
                b
            }
        },
    ));
    (s, failed, checkpoints)
}

/// The Nexmark tables with the source slowed to 25 000 events/s, so that
/// checkpoints complete during the run.
fn slowed_ddl() -> String {
    DDL_NEXMARK.replace(
        "'events.num' = '${EVENTS_NUM}'",
        "'events.num' = '${EVENTS_NUM}', 'events.per-second' = '25000'",
    )
}

#[test]
fn exactly_once_window_aggregate_with_a_failure_equals_duckdb() {
    // The q5 HOP count; the window aggregate fails once mid-run (at a
    // random record up to its 5000th: it receives each batch's rows folded
    // per auction and window, over 30 000 records in all where it took
    // 230 000 unfolded).
    // The committed part files hold DuckDB's result exactly.
    let ours = exactly_once_with_one_failure(
        "CREATE TABLE out (auction BIGINT, num BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
         FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
         GROUP BY auction, window_start, window_end",
        5_000,
    );
    let theirs = duckdb(&format!(
        "SELECT auction, count(*), window_start, window_end FROM {} GROUP BY auction, window_start, window_end",
        duck_hop("bid", 2000, 10_000)
    ));
    compare("exactly-once hop count", ours, theirs);
}

/// The operators of `query` over the Nexmark tables, as EXPLAIN prints
/// them.
fn explain(query: &str) -> String {
    let mut s = squall_sql::Session::new();
    for (k, v) in
        [("EVENTS_NUM", "10"), ("TPS", RATE), ("SINK", "blackhole"), ("OUT", "/nonexistent")]
    {
        s.set(k, v).unwrap();
    }
    let insert = query.find("INSERT").expect("an INSERT");
    let script = format!("{DDL_NEXMARK};\n{}EXPLAIN {}", &query[..insert], &query[insert..]);
    let out = s.run_script(&script).unwrap_or_else(|e| panic!("{e}"));
    out.explained.join("\n")
}

#[test]
fn top_n_plans_show_the_top_n_operator() {
    for q in ["q9.sql", "q18.sql", "q19.sql"] {
        let text = explain(&query_file(q));
        eprintln!("{q}:\n{text}");
        assert!(text.contains("top-n:"), "{q}: {text}");
    }
}

// Top-N and deduplication. Squall orders rows that tie on the ORDER BY by
// their columns, left to right (so its result does not depend on arrival
// order); DuckDB's ROW_NUMBER() gets the same tie-break spelled out.

#[test]
fn q9_winning_bids_as_a_top_1_per_auction() {
    let changelog = squall(DDL_NEXMARK, &query_file("q9.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "winning bids were replaced");
    let theirs = duckdb(
        r#"SELECT id, itemName, description, initialBid, reserve, "dateTime", expires, seller, category, extra,
                  auction, bidder, price, bid_dateTime, bid_extra
           FROM (SELECT A.*, B.auction, B.bidder, B.price, B."dateTime" AS bid_dateTime, B.extra AS bid_extra,
                   ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B."dateTime" ASC, B.bidder, B.extra) AS rownum
                 FROM auction A, bid B
                 WHERE A.id = B.auction AND B."dateTime" BETWEEN A."dateTime" AND A.expires)
           WHERE rownum <= 1"#,
    );
    compare("q9", upserted(changelog), theirs);
}

#[test]
fn q18_last_bid_per_bidder_and_auction_deduplicated() {
    let changelog = squall(DDL_NEXMARK, &query_file("q18.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "later bids replaced earlier ones");
    let theirs = duckdb(
        r#"SELECT auction, bidder, price, channel, url, "dateTime", extra
           FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction
                   ORDER BY "dateTime" DESC, price, channel, url, extra) AS rank_number FROM bid)
           WHERE rank_number <= 1"#,
    );
    compare("q18", upserted(changelog), theirs);
}

const Q19_DUCKDB: &str = r#"SELECT * FROM
    (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction
       ORDER BY price DESC, bidder, channel, url, "dateTime", extra) AS rank_number FROM bid)
    WHERE rank_number <= 10"#;

#[test]
fn q19_top_10_bids_per_auction_with_their_rank() {
    let changelog = squall(DDL_NEXMARK, &query_file("q19.sql"), 2);
    assert!(
        changelog.iter().any(|r| r[0] == "-U" && r[8] != "1"),
        "a higher bid moved lower ranks"
    );
    compare("q19", upserted(changelog), duckdb(Q19_DUCKDB));
}

#[test]
fn top_n_over_an_updating_aggregate_takes_retractions() {
    // The 3 auctions with the most bids in each of 7 buckets of auctions: a
    // Top-N over a non-windowed GROUP BY, whose counts are retracted as they
    // grow (Flink's retractable Top-N keeps every row of a partition).
    let query = "CREATE TABLE out (bucket BIGINT, auction BIGINT, n BIGINT)
                   WITH ('connector' = 'filesystem', 'path' = '${OUT}');
                 INSERT INTO out SELECT bucket, auction, n FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY n DESC) AS rn FROM (
                     SELECT MOD(auction, 7) AS bucket, auction, COUNT(*) AS n FROM bid
                     GROUP BY MOD(auction, 7), auction))
                 WHERE rn <= 3";
    let changelog = squall(DDL_NEXMARK, query, 2);
    let theirs = duckdb(
        "SELECT bucket, auction, n FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY n DESC, auction) AS rn FROM (
             SELECT auction % 7 AS bucket, auction, COUNT(*) AS n FROM bid GROUP BY auction % 7, auction))
         WHERE rn <= 3",
    );
    compare("top-n over an updating result", upserted(changelog), theirs);
}

#[test]
fn a_row_number_without_an_upper_bound_is_refused_by_name() {
    let mut s = squall_sql::Session::new();
    for (k, v) in [("EVENTS_NUM", "10"), ("TPS", RATE)] {
        s.set(k, v).unwrap();
    }
    let err = s
        .run_script(&format!(
            "{DDL_NEXMARK};
             SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price) AS rn FROM bid)
             WHERE rn > 3"
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("OVER windows other than Top-N"), "{err}");
}

#[test]
fn exactly_once_top_n_with_a_failure_restores_its_ranking() {
    // q19 exactly-once: the Top-N fails once mid-run and resumes from the
    // ranking in its last checkpoint; the committed changelog folds to
    // DuckDB's table.
    let changelog = exactly_once_with_one_failure(&query_file("q19.sql"), 20_000);
    compare("exactly-once q19", upserted(changelog), duckdb(Q19_DUCKDB));
}

/// DuckDB's sessions of `gap_ms` per bidder, with LAG: a bid starts a new
/// session when the bidder's previous bid is `gap_ms` or more before it;
/// the session ends `gap_ms` after its last bid. Rows per session and
/// `extra` columns (`", channel"`): bidder, extra, n, top, starttime,
/// endtime.
fn duck_sessions(gap_ms: i64, extra: &str) -> String {
    format!(
        r#"WITH o AS (
             SELECT bidder{extra}, "dateTime" AS t, price,
               CASE WHEN epoch_ms("dateTime") - epoch_ms(LAG("dateTime") OVER (PARTITION BY bidder ORDER BY "dateTime")) < {gap_ms}
                    THEN 0 ELSE 1 END AS new FROM bid),
           s AS (SELECT *, SUM(new) OVER (PARTITION BY bidder ORDER BY t, new DESC ROWS UNBOUNDED PRECEDING) AS sid FROM o),
           w AS (SELECT *, MIN(t) OVER (PARTITION BY bidder, sid) AS st, MAX(t) OVER (PARTITION BY bidder, sid) AS en FROM s)
         SELECT bidder{extra}, COUNT(*) AS n, MAX(price) AS top, st AS starttime,
                make_timestamp((epoch_ms(en) + {gap_ms}) * 1000) AS endtime
         FROM w GROUP BY bidder, sid, st, en{extra}"#
    )
}

#[test]
fn q11_user_sessions_in_the_legacy_syntax() {
    let ours = squall(DDL_NEXMARK, &query_file("q11.sql"), 2);
    let theirs = duckdb(&format!(
        "SELECT bidder, n, starttime, endtime FROM ({})",
        duck_sessions(10_000, "")
    ));
    assert!(
        theirs.len() > 500 && theirs.iter().any(|r| r[1] != "1"),
        "sessions of several bids: {}",
        theirs.len()
    );
    compare("q11", ours, theirs);
}

#[test]
fn session_tvf_partitioned_by_bidder() {
    // The same sessions with a 3 s gap, as Flink's SESSION TVF.
    let ours = squall(
        DDL_NEXMARK,
        "CREATE TABLE out (bidder BIGINT, n BIGINT, top BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT bidder, COUNT(*), MAX(price), window_start, window_end
         FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(`dateTime`), INTERVAL '3' SECOND))
         GROUP BY bidder, window_start, window_end",
        2,
    );
    compare("session TVF", ours, duckdb(&duck_sessions(3_000, "")));
}

#[test]
fn exactly_once_sessions_with_a_failure_equal_duckdb() {
    // q11 exactly-once: the session aggregate fails once mid-run and
    // resumes from the open sessions in its last checkpoint.
    let ours = exactly_once_with_one_failure(&query_file("q11.sql"), 20_000);
    let theirs = duckdb(&format!(
        "SELECT bidder, n, starttime, endtime FROM ({})",
        duck_sessions(10_000, "")
    ));
    compare("exactly-once q11", ours, theirs);
}

#[test]
fn session_tvf_grouped_finer_than_its_partition() {
    // Sessions per bidder, counted per bidder and channel inside each
    // session (Flink: the GROUP BY may refine the PARTITION BY).
    let ours = squall(
        DDL_NEXMARK,
        "CREATE TABLE out (bidder BIGINT, channel VARCHAR, n BIGINT, top BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT bidder, channel, COUNT(*), MAX(price), window_start, window_end
         FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(`dateTime`), INTERVAL '3' SECOND))
         GROUP BY bidder, channel, window_start, window_end",
        2,
    );
    compare("session TVF by channel", ours, duckdb(&duck_sessions(3_000, ", channel")));
}

#[test]
fn q13_bounded_side_input_lookup_join() {
    // Flink's side input is `i,i` for i in 0..9999; here only i < 2500, so
    // that the bids of auctions 2500 and up (ids start at 1000) find
    // nothing.
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("side_input.txt");
    let text: String = (0..2500).map(|i| format!("{i},{i}\n")).collect();
    std::fs::write(&side, text).unwrap();
    let mut s = squall_sql::Session::new();
    s.set("SIDE_INPUT", side.to_str().unwrap()).unwrap();
    // Flink's text: the AS OF column is PROCTIME(); a lookup join joins
    // each bid with the side input as it arrives.
    let query = query_file("q13.sql");
    let ours = squall_with(DDL_NEXMARK, &query, 2, s);
    let theirs = duckdb(&format!(
        r#"WITH side_input AS (SELECT * FROM read_csv('{}', header=false,
             columns={{'key':'BIGINT','value':'VARCHAR'}}))
           SELECT B.auction, B.bidder, B.price, B."dateTime", S.value
           FROM bid B JOIN side_input S ON B.auction % 10000 = S.key"#,
        side.display()
    ));
    let auctions: std::collections::BTreeSet<&str> = ours.iter().map(|r| r[0].as_str()).collect();
    assert!(auctions.iter().any(|a| a.parse::<i64>().unwrap() < 2500), "no bid matched");
    compare("q13", ours, theirs);
}

// OVER aggregates (`ROWS BETWEEN n PRECEDING AND CURRENT ROW`). Squall
// orders rows equal on the ORDER BY by their columns, left to right, as the
// Top-N does; the DuckDB queries spell that tie-break out.

/// The final Top-1 of q6 (the highest bid of each auction while open,
/// equal prices by the earliest bid) in DuckDB.
const Q6_TOP1_DUCKDB: &str = r#"(SELECT * FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY id, seller ORDER BY price DESC, "dateTime") AS rownum
    FROM (SELECT A.id, A.seller, B.price, B."dateTime" FROM auction A, bid B
          WHERE A.id = B.auction AND B."dateTime" BETWEEN A."dateTime" AND A.expires))
  WHERE rownum <= 1)"#;

#[test]
fn q6_average_selling_price_by_seller_over_the_updating_top_1() {
    let changelog = squall(DDL_NEXMARK, &query_file("q6.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "averages were updated");
    // The OVER node reads seller, price and dateTime (DataFusion prunes
    // the rest): bids at the same time are ordered by the price.
    let theirs = duckdb(&format!("{Q6_DUCKDB}{Q6_TOP1_DUCKDB}"));
    compare("q6", upserted(changelog), theirs);
}

const Q6_DUCKDB: &str = r#"SELECT CAST(seller AS VARCHAR), CAST(trunc(AVG(price) OVER (PARTITION BY seller
    ORDER BY "dateTime", price ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)) AS BIGINT) FROM "#;

#[test]
fn exactly_once_q6_with_a_failure_restores_its_over_state() {
    // The keyed operators (join, Top-1, OVER aggregate) resume from their
    // last checkpoint after a failure; the committed changelog folds to
    // DuckDB's table.
    let changelog = exactly_once_with_one_failure(&query_file("q6.sql"), 20_000);
    compare(
        "exactly-once q6",
        upserted(changelog),
        duckdb(&format!("{Q6_DUCKDB}{Q6_TOP1_DUCKDB}")),
    );
}

#[test]
fn over_aggregates_of_every_function_over_an_updating_input() {
    // q6's Top-1 with its rows and every aggregate over two frame sizes:
    // the changelog folds to DuckDB's batch window over the final rows.
    let query = "CREATE TABLE out (id BIGINT, seller BIGINT, price BIGINT, t TIMESTAMP(3),
                   a DOUBLE, s BIGINT, n BIGINT, lo BIGINT, hi BIGINT, s_all BIGINT)
                   WITH ('connector' = 'filesystem', 'path' = '${OUT}');
                 INSERT INTO out SELECT id, seller, price, `dateTime`,
                   AVG(price) OVER w, SUM(price) OVER w, COUNT(*) OVER w, MIN(price) OVER w,
                   MAX(price) OVER w,
                   SUM(price) OVER (PARTITION BY seller ORDER BY `dateTime`
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                 FROM (SELECT * FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY id, seller ORDER BY price DESC) AS rownum
                   FROM (SELECT A.id, A.seller, B.price, B.`dateTime` FROM auction AS A, bid AS B
                         WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires))
                   WHERE rownum <= 1)
                 WINDOW w AS (PARTITION BY seller ORDER BY `dateTime` ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)";
    let changelog = squall(DDL_NEXMARK, query, 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "rows were updated");
    let theirs = duckdb(&format!(
        r#"SELECT id, seller, price, "dateTime", AVG(price) OVER w, SUM(price) OVER w, COUNT(*) OVER w,
                  MIN(price) OVER w, MAX(price) OVER w,
                  SUM(price) OVER (PARTITION BY seller ORDER BY "dateTime", id, price
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           FROM {Q6_TOP1_DUCKDB}
           WINDOW w AS (PARTITION BY seller ORDER BY "dateTime", id, price ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)"#
    ));
    compare("over aggregates over the top-1", upserted(changelog), theirs);
}

#[test]
fn over_aggregate_over_an_append_only_csv_with_ties_and_late_rows() {
    // Rows out of time order and equal times: a late row updates the rows
    // after it; equal times are ordered by the row's other columns.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("readings.csv");
    let mut text = String::new();
    for i in 0..300i64 {
        let (k, t, v) = (i % 4, (i * 7919) % 97, (i * 31) % 23 - 5);
        text.push_str(&format!("{k},1970-01-01 00:00:{:02}.{:03},{v}\n", t / 10, (t % 10) * 100));
    }
    std::fs::write(&csv, text).unwrap();
    let query = format!(
        "CREATE TABLE readings (k BIGINT, t TIMESTAMP(3), v BIGINT)
           WITH ('connector' = 'filesystem', 'format' = 'csv', 'path' = '{}');
         CREATE TABLE out (k BIGINT, t TIMESTAMP(3), v BIGINT, a DOUBLE, lo BIGINT, n BIGINT)
           WITH ('connector' = 'filesystem', 'path' = '${{OUT}}');
         INSERT INTO out SELECT k, t, v,
           AVG(v) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 4 PRECEDING AND CURRENT ROW),
           MIN(v) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 4 PRECEDING AND CURRENT ROW),
           COUNT(v) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)
         FROM readings",
        csv.display()
    );
    let changelog = squall("", &query, 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "late rows updated later ones");
    let theirs = squall_test_support::duckdb::query(&[&format!(
        "SELECT k, t, v, AVG(v) OVER w, MIN(v) OVER w, COUNT(v) OVER w
         FROM read_csv('{}', header=false, columns={{'k':'BIGINT','t':'TIMESTAMP','v':'BIGINT'}})
         WINDOW w AS (PARTITION BY k ORDER BY t, k, v ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)",
        csv.display()
    )]);
    compare("over aggregate over a CSV", upserted(changelog), theirs);
}

/// The error of planning `sql` after the Nexmark tables.
fn planning_error(sql: &str) -> String {
    let mut s = squall_sql::Session::new();
    for (k, v) in [("EVENTS_NUM", "10"), ("TPS", RATE)] {
        s.set(k, v).unwrap();
    }
    s.prepare(&format!("{DDL_NEXMARK};\n{sql}")).err().expect("refused").to_string()
}

#[test]
fn over_windows_outside_rows_aggregates_are_refused_by_name() {
    for (over, named) in [
        ("SUM(price) OVER (PARTITION BY auction ORDER BY price)", "RANGE frames"),
        ("LAG(price) OVER (PARTITION BY auction ORDER BY price)", "lag"),
        (
            "SUM(price) OVER (PARTITION BY auction ORDER BY price ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)",
            "1 FOLLOWING",
        ),
    ] {
        let err = planning_error(&format!("SELECT auction, {over} FROM bid"));
        assert!(err.contains("OVER windows other than") && err.contains(named), "{over}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn q14_calculation_with_a_function_bound_by_create_function() {
    let ours = squall(DDL_NEXMARK, &query_file("q14.sql"), 2);
    // DuckDB: count_char as the length lost by removing the character.
    let theirs = duckdb(
        r#"SELECT auction, bidder, CAST(0.908 AS DOUBLE) * price,
                  CASE WHEN hour("dateTime") >= 8 AND hour("dateTime") <= 18 THEN 'dayTime'
                       WHEN hour("dateTime") <= 6 OR hour("dateTime") >= 20 THEN 'nightTime'
                       ELSE 'otherTime' END,
                  "dateTime", extra, length(extra) - length(replace(extra, 'c', ''))
           FROM bid
           WHERE CAST(0.908 AS DOUBLE) * price > 1000000 AND CAST(0.908 AS DOUBLE) * price < 50000000"#,
    );
    compare("q14", ours, theirs);
}

#[test]
fn create_function_binds_a_udf_registered_from_rust_and_refuses_unknown_ones() {
    use datafusion_common::arrow::array::{AsArray, Int64Array};
    use datafusion_common::arrow::datatypes::{DataType, Int64Type};
    use datafusion_expr::{ColumnarValue, Volatility};
    let twice = datafusion_expr::create_udf(
        "twice",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        std::sync::Arc::new(|args: &[ColumnarValue]| {
            let a = ColumnarValue::values_to_arrays(args)?;
            let out: Int64Array =
                a[0].as_primitive::<Int64Type>().iter().map(|v| v.map(|v| 2 * v)).collect();
            Ok(ColumnarValue::Array(std::sync::Arc::new(out)))
        }),
    );
    let mut s = squall_sql::Session::new();
    s.register_udf("com.example.Twice", twice);
    let query = "CREATE TEMPORARY SYSTEM FUNCTION dbl AS 'com.example.Twice' LANGUAGE JAVA;
                 CREATE TABLE out (auction BIGINT, p2 BIGINT)
                   WITH ('connector' = 'filesystem', 'path' = '${OUT}');
                 INSERT INTO out SELECT auction, DBL(price) FROM bid WHERE MOD(auction, 10) = 0";
    let ours = squall_with(DDL_NEXMARK, query, 2, s);
    compare(
        "a Rust UDF",
        ours,
        duckdb("SELECT auction, 2 * price FROM bid WHERE auction % 10 = 0"),
    );

    let mut s = squall_sql::Session::new();
    let err = s
        .run_script("CREATE FUNCTION f AS 'com.example.Missing' LANGUAGE JAVA;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no scalar UDF is registered under 'com.example.Missing'")
            && err.contains(squall_sql::udf::COUNT_CHAR_CLASS)
            && err.lines().count() == 1,
        "{err}"
    );
}

/// Runs `query` (a partitioned filesystem sink at ${OUT}) with `s` and
/// returns each committed row with its folder's partition values appended
/// (unescaped), and the folders written.
fn squall_partitioned(
    ddl: &str,
    query: &str,
    mut s: squall_sql::Session,
) -> (Vec<Vec<String>>, usize) {
    let out = tempfile::tempdir().unwrap();
    s.set("parallelism", "2").unwrap();
    s.set("EVENTS_NUM", &EVENTS.to_string()).unwrap();
    s.set("TPS", RATE).unwrap();
    s.set("SINK", "filesystem").unwrap();
    s.set("OUT", out.path().to_str().unwrap()).unwrap();
    s.run_script(&format!("{ddl};\n{query}")).unwrap_or_else(|e| panic!("{e}"));
    let files = squall_sql::partitioned_sink::committed(out.path()).unwrap();
    let mut folders = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for (folder, file) in files {
        folders.insert(folder.clone());
        let values: Vec<String> =
            folder.split('/').map(|kv| kv.split_once('=').unwrap().1.replace("%3A", ":")).collect();
        let bytes = std::fs::read(&file).unwrap();
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
        for rec in r.records() {
            let mut row: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
            row.extend(values.iter().cloned());
            rows.push(row);
        }
    }
    let pending = walkdir_pending(out.path());
    assert!(pending.is_empty(), "pending files left: {pending:?}");
    (rows, folders.len())
}

fn walkdir_pending(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            found.extend(walkdir_pending(&p));
        } else if p.to_string_lossy().ends_with(".pending") {
            found.push(p);
        }
    }
    found
}

const Q10_DUCKDB: &str = r#"SELECT auction, bidder, price, "dateTime", extra,
    strftime("dateTime", '%Y-%m-%d'), strftime("dateTime", '%H:%M') FROM bid"#;

#[test]
fn q10_log_to_a_filesystem_partitioned_by_day_and_minute() {
    // Each row is compared with its folder's dt and hm appended: the union
    // of the folders is DuckDB's q10, and a row in the wrong folder would
    // differ from DuckDB's dt/hm of its own dateTime.
    let (ours, folders) =
        squall_partitioned(DDL_NEXMARK, &query_file("q10.sql"), squall_sql::Session::new());
    assert!(folders >= 1);
    compare("q10", ours, duckdb(Q10_DUCKDB));
    // The events span 20 s of event time, one minute: partitioned by the
    // second instead, 20 folders.
    let by_second = query_file("q10.sql").replace("'HH:mm')", "'HH:mm:ss')");
    let (ours, folders) = squall_partitioned(DDL_NEXMARK, &by_second, squall_sql::Session::new());
    assert!(folders >= 20, "one folder per second of event time: {folders}");
    compare("q10 by the second", ours, duckdb(&Q10_DUCKDB.replace("'%H:%M'", "'%H:%M:%S'")));
}

#[test]
fn q10_exactly_once_partition_files_commit_with_checkpoints() {
    // With checkpoints every 100 ms over a ~2 s run, each second's folder
    // gets part files as checkpoints complete; none is left pending and
    // the rows are DuckDB's exactly once.
    // The operator before the sink fails once at its 8th batch; the run
    // restarts from the last checkpoint and the sink discards what that
    // checkpoint does not cover, in every partition folder.
    let (s, failed, _checkpoints) =
        failing_once(|id| id.starts_with("sink-") && id.contains("-rows"), 8);
    let ddl = slowed_ddl();
    let by_second = query_file("q10.sql").replace("'HH:mm')", "'HH:mm:ss')");
    let (ours, _) = squall_partitioned(&ddl, &by_second, s);
    assert!(failed.load(std::sync::atomic::Ordering::SeqCst), "the failure was not injected");
    compare("q10 exactly-once", ours, duckdb(&Q10_DUCKDB.replace("'%H:%M'", "'%H:%M:%S'")));
}

#[test]
fn partitioned_by_an_unknown_column_is_refused_by_name() {
    let mut s = squall_sql::Session::new();
    let err = s
        .run_script(
            "CREATE TABLE o (a BIGINT, dt STRING) PARTITIONED BY (dt, hm)
               WITH ('connector' = 'filesystem', 'path' = '/nonexistent');",
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("PARTITIONED BY hm: no such column") && err.lines().count() == 1, "{err}");
}

/// Per bidder, the sum of its window counts in `rows` (bidder, count,
/// start, end), checking each window is `size_ms` long and aligned.
fn per_bidder_totals(rows: &[Vec<String>], size_ms: i64) -> Vec<Vec<String>> {
    let ms = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f")
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .and_utc()
            .timestamp_millis()
    };
    let mut totals: std::collections::BTreeMap<i64, i64> = Default::default();
    for r in rows {
        let (start, end) = (ms(&r[2]), ms(&r[3]));
        assert_eq!((end - start, start % size_ms), (size_ms, 0), "window {r:?}");
        *totals.entry(r[0].parse().unwrap()).or_default() += r[1].parse::<i64>().unwrap();
    }
    totals.into_iter().map(|(b, n)| vec![b.to_string(), n.to_string()]).collect()
}

#[test]
fn q12_processing_time_windows_count_every_bid_once() {
    let before = std::time::SystemTime::now();
    let ours = squall(DDL_NEXMARK, &query_file("q12.sql"), 2);
    let after = std::time::SystemTime::now();
    // The windows are of the wall clock during the run.
    let year = |t: std::time::SystemTime| {
        chrono::DateTime::<chrono::Utc>::from(t).format("%Y").to_string()
    };
    assert!(
        ours.iter().all(|r| r[2].starts_with(&year(before)) || r[2].starts_with(&year(after))),
        "{:?}",
        ours.first()
    );
    compare(
        "q12 totals per bidder",
        per_bidder_totals(&ours, 10_000),
        duckdb("SELECT bidder, count(*) FROM bid GROUP BY bidder"),
    );
}

#[test]
fn processing_time_windows_fire_on_the_wall_clock_without_a_watermark() {
    // No WATERMARK on the table, a source slowed to about 2 s, 500 ms
    // windows, checkpoints every 100 ms: windows fire during the run (their
    // rows are in part files of checkpoints before the end), and the totals
    // are every bid once.
    let ddl = DDL_NEXMARK
        .replace(",\n    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND", "")
        .replace(
            "'events.num' = '${EVENTS_NUM}'",
            "'events.num' = '${EVENTS_NUM}', 'events.per-second' = '25000'",
        );
    assert!(!ddl.contains("WATERMARK"));
    let query = query_file("q12.sql").replace("INTERVAL '10' SECOND", "INTERVAL '0.5' SECOND");
    let (out, checkpoints) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut s = squall_sql::Session::new();
    for (k, v) in [
        ("parallelism", "2"),
        ("EVENTS_NUM", &EVENTS.to_string()),
        ("TPS", RATE),
        ("SINK", "filesystem"),
        ("OUT", out.path().to_str().unwrap()),
        ("guarantee", "exactly_once"),
        ("checkpoint_interval_ms", "100"),
        ("checkpoint_dir", checkpoints.path().to_str().unwrap()),
    ] {
        s.set(k, v).unwrap();
    }
    s.run_script(&format!("{ddl};\n{query}")).unwrap_or_else(|e| panic!("{e}"));
    let during_run: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-") && !n.contains("-end"))
        .collect();
    assert!(!during_run.is_empty(), "no window fired before the end of input");
    let ours = squall_test_support::duckdb::csv_rows(out.path());
    let windows: std::collections::BTreeSet<&String> = ours.iter().map(|r| &r[2]).collect();
    assert!(windows.len() >= 2, "windows: {windows:?}");
    compare(
        "processing-time totals per bidder",
        per_bidder_totals(&ours, 500),
        duckdb("SELECT bidder, count(*) FROM bid GROUP BY bidder"),
    );
}

#[test]
fn over_partitioned_and_processing_time_plans_show_their_operators() {
    let q6 = explain(&query_file("q6.sql"));
    assert!(q6.contains("top-n:") && q6.contains("over aggregate: avg("), "{q6}");
    let out = tempfile::tempdir().unwrap();
    let q10 = explain(
        &query_file("q10.sql")
            .replace("${SINK}", "filesystem")
            .replace("${OUT}", out.path().to_str().unwrap()),
    );
    assert!(q10.contains("one folder per dt/hm"), "{q10}");
    let q12 = explain(&query_file("q12.sql"));
    assert!(q12.contains("on processing time"), "{q12}");
    let q7 = explain(&query_file("q7.sql"));
    assert!(!q7.contains("on processing time"), "{q7}");
    let err = planning_error(
        "CREATE VIEW B AS SELECT *, PROCTIME() AS p_time FROM bid;
         SELECT bidder, count(*) FROM TABLE(SESSION(TABLE B PARTITION BY bidder,
           DESCRIPTOR(p_time), INTERVAL '1' SECOND)) GROUP BY bidder, window_start, window_end",
    );
    assert!(err.contains("SESSION windows on processing time"), "{err}");
}
