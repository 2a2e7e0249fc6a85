//! State TTL (`SET 'table.exec.state.ttl'`): a non-windowed `GROUP BY`
//! whose key goes untouched for longer than the TTL loses its state, and
//! the key's next record starts a fresh count. The bids come at a limited
//! real rate (`'events.per-second'`) with event time at the same pace, and
//! the key is the parity of the bid's second: each key is touched for one
//! second, then left alone for one second, longer than the TTL.

use squall_test_support::duckdb::{csv_rows, upserted};

const DDL_NEXMARK: &str = include_str!("../nexmark/ddl.sql");

/// Runs `body` (statements whose sinks write under `${OUT}`) over 300
/// events (5 s) at 60 events per second, with `ttl` set if any; returns
/// the folder of the sinks.
fn run(body: &str, ttl: Option<&str>) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let mut s = squall_sql::Session::new();
    for (k, v) in [("EVENTS_NUM", "300"), ("TPS", "60"), ("OUT", out.path().to_str().unwrap())] {
        s.set(k, v).unwrap();
    }
    let ddl = DDL_NEXMARK.replace(
        "'events.num' = '${EVENTS_NUM}'",
        "'events.num' = '${EVENTS_NUM}', 'events.per-second' = '60'",
    );
    let set = ttl.map(|t| format!("SET 'table.exec.state.ttl' = '{t}';")).unwrap_or_default();
    s.run_script(&format!("{ddl};\n{set}\n{body}")).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// The count per second-parity with `ttl`: the final table `(key, count)`
/// and the bids per key.
fn counts(ttl: Option<&str>) -> (Vec<(i64, i64)>, [i64; 2]) {
    let out = run(
        "CREATE TABLE out (k BIGINT, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         CREATE TABLE seen (k BIGINT) WITH ('connector' = 'filesystem', 'path' = '${OUT}/seen');
         INSERT INTO out SELECT CAST(date_part('epoch', `dateTime`) AS BIGINT) % 2, COUNT(*) FROM bid
           GROUP BY CAST(date_part('epoch', `dateTime`) AS BIGINT) % 2;
         INSERT INTO seen SELECT CAST(date_part('epoch', `dateTime`) AS BIGINT) % 2 FROM bid",
        ttl,
    );
    let mut per_key = [0i64; 2];
    for row in csv_rows(&out.path().join("seen")) {
        per_key[row[0].parse::<usize>().unwrap()] += 1;
    }
    let table = upserted(csv_rows(out.path()))
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    (table, per_key)
}

#[test]
fn without_a_ttl_each_key_has_one_count_of_all_its_bids() {
    let (table, per_key) = counts(None);
    let mut want: Vec<(i64, i64)> = vec![(0, per_key[0]), (1, per_key[1])];
    want.retain(|(_, n)| *n > 0);
    assert_eq!(table.iter().copied().collect::<std::collections::BTreeSet<_>>().len(), want.len());
    let mut table = table;
    table.sort();
    assert_eq!(table, want);
}

#[test]
fn an_expired_key_starts_afresh_and_no_bid_is_lost() {
    let (table, per_key) = counts(Some("300 ms"));
    for key in 0..2 {
        let lives: Vec<i64> = table.iter().filter(|(k, _)| *k == key).map(|(_, n)| *n).collect();
        eprintln!("key {key}: counts of the lives of its state {lives:?}");
        // Each second the key is touched is one life of its state: the
        // count restarted after every idle second, and the lives' last
        // counts add up to every bid of the key.
        assert!(lives.len() >= 2, "key {key}: the state never expired: {lives:?}");
        assert!(lives.iter().all(|n| *n < per_key[key as usize]), "key {key}: {lives:?}");
        assert_eq!(lives.iter().sum::<i64>(), per_key[key as usize], "key {key}: {lives:?}");
    }
}

#[test]
fn a_regular_join_forgets_an_auction_untouched_for_the_ttl() {
    // Bids joined with their auction: without a TTL every bid of the run
    // finds its auction; with 100 ms, an auction with no bid for longer
    // has left the join's state, so its later bids find nothing.
    let join = "CREATE TABLE out (id BIGINT, bidder BIGINT, price BIGINT, t TIMESTAMP(3))
                  WITH ('connector' = 'filesystem', 'path' = '${OUT}');
                INSERT INTO out SELECT A.id, B.bidder, B.price, B.`dateTime`
                FROM auction A JOIN bid B ON A.id = B.auction";
    let mut all = csv_rows(run(join, None).path());
    let mut kept = csv_rows(run(join, Some("100 ms")).path());
    all.sort();
    kept.sort();
    eprintln!("{} joined rows without a TTL, {} with 100 ms", all.len(), kept.len());
    assert!(kept.len() < all.len(), "the TTL dropped nothing: {} rows", kept.len());
    assert!(kept.iter().all(|r| all.binary_search(r).is_ok()), "a row no run without a TTL made");
}

#[test]
fn a_bad_ttl_is_refused_by_name() {
    let mut s = squall_sql::Session::new();
    let err = s.run_script("SET 'table.exec.state.ttl' = 'soon'").unwrap_err().to_string();
    assert!(err.contains("table.exec.state.ttl") && err.contains("soon"), "{err}");
}
