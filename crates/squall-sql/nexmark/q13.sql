-- Nexmark q13: bounded side input join (not in the original suite). Joins
-- the bid stream with a bounded side input, modelling stream enrichment.
-- Flink's text, with the side input's old-style connector options written
-- as the filesystem connector's and the sink as ${SINK}/${OUT}. The side
-- input has no watermark, so `FOR SYSTEM_TIME AS OF` makes it a lookup
-- table: read whole from ${SIDE_INPUT} (Flink's SideInputGenerator writes
-- `i,i` for i in 0..9999) and each bid joined as it arrives. `key` is
-- quoted in the DDL (sqlparser reads a bare KEY there as PRIMARY KEY's).
CREATE TABLE side_input (
  `key` BIGINT,
  `value` VARCHAR
) WITH (
  'connector' = 'filesystem',
  'path' = '${SIDE_INPUT}',
  'format' = 'csv'
);

CREATE TABLE nexmark_q13 (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  `value`  VARCHAR
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

INSERT INTO nexmark_q13
SELECT
    B.auction,
    B.bidder,
    B.price,
    B.`dateTime`,
    S.`value`
FROM (SELECT *, PROCTIME() as p_time FROM bid) B
JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
ON mod(B.auction, 10000) = S.key;
