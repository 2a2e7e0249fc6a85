-- Nexmark q10: log to file system. Every bid, to a filesystem table
-- partitioned by day (`dt`) and minute (`hm`): one folder per partition
-- value, Hive-style (`${OUT}/dt=2015-07-15/hm=00%3A01/part-...csv`, the
-- partition columns in the path, not the files), written exactly-once
-- (a partition's part files appear when their checkpoint commits).
--
-- Flink's text with the sink's connector and path as ${SINK} and ${OUT};
-- Flink's partition-commit and rolling-policy options are accepted and
-- not used (Squall commits part files with each checkpoint and writes no
-- success file).
CREATE TABLE nexmark_q10 (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR,
  dt STRING,
  hm STRING
) PARTITIONED BY (dt, hm) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}',
  'format' = 'csv',
  'sink.partition-commit.trigger' = 'partition-time',
  'sink.partition-commit.delay' = '1 min',
  'sink.partition-commit.policy.kind' = 'success-file',
  'partition.time-extractor.timestamp-pattern' = '$dt $hm:00',
  'sink.rolling-policy.rollover-interval' = '1min',
  'sink.rolling-policy.check-interval' = '1min'
);

INSERT INTO nexmark_q10
SELECT auction, bidder, price, `dateTime`, extra, DATE_FORMAT(`dateTime`, 'yyyy-MM-dd'), DATE_FORMAT(`dateTime`, 'HH:mm')
FROM bid;
