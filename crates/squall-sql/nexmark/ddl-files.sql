-- The Nexmark tables over the CSV files that `squall nexmark DIR` writes:
-- the same columns and watermarks as ddl.sql, read with the filesystem
-- connector. The text is Flink SQL as well as Squall SQL, so that the
-- Flink comparison (scripts/bench-sql-vs-flink.sh) runs the same
-- statements on both engines.
--
--   squall nexmark /tmp/nexmark --events 1000000
--   squall sql crates/squall-sql/nexmark/ddl-files.sql crates/squall-sql/nexmark/q2.sql \
--       --set DIR=/tmp/nexmark --set SINK=blackhole --set OUT=unused
CREATE TABLE person (
    id  BIGINT,
    name  VARCHAR,
    emailAddress  VARCHAR,
    creditCard  VARCHAR,
    city  VARCHAR,
    state  VARCHAR,
    `dateTime` TIMESTAMP(3),
    extra  VARCHAR,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'filesystem',
    'path' = '${DIR}/person.csv',
    'format' = 'csv'
);

CREATE TABLE auction (
    id  BIGINT,
    itemName  VARCHAR,
    description  VARCHAR,
    initialBid  BIGINT,
    reserve  BIGINT,
    `dateTime`  TIMESTAMP(3),
    expires  TIMESTAMP(3),
    seller  BIGINT,
    category  BIGINT,
    extra  VARCHAR,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'filesystem',
    'path' = '${DIR}/auction.csv',
    'format' = 'csv'
);

CREATE TABLE bid (
    auction  BIGINT,
    bidder  BIGINT,
    price  BIGINT,
    channel  VARCHAR,
    url  VARCHAR,
    `dateTime`  TIMESTAMP(3),
    extra  VARCHAR,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'filesystem',
    'path' = '${DIR}/bid.csv',
    'format' = 'csv'
);
