-- Page views per page per minute over a folder of CSV files, in one command:
--
--   cargo run --release -p squall-cli -- sql examples/sql/pageviews-per-minute.sql
--
-- Each file has a header line; records may arrive up to 30 s out of order,
-- so the watermark stays 30 s behind the latest time read. A window's row
-- is written once the watermark passes its end.
CREATE TABLE pageviews (
    ts           TIMESTAMP(3),
    user_id      BIGINT,
    page         VARCHAR,
    duration_ms  BIGINT,
    WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
) WITH (
    'connector' = 'filesystem',
    'path' = 'examples/sql/pageviews',
    'format' = 'csv',
    'csv.header' = 'true'
);

CREATE TABLE views_per_minute (
    window_start  TIMESTAMP(3),
    window_end    TIMESTAMP(3),
    page          VARCHAR,
    views         BIGINT,
    users         BIGINT,
    avg_seconds   DOUBLE
) WITH (
    'connector' = 'print'
);

INSERT INTO views_per_minute
SELECT window_start, window_end, page, COUNT(*), COUNT(DISTINCT user_id),
       AVG(duration_ms) / 1000.0
FROM TABLE(TUMBLE(TABLE pageviews, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, page;
