-- Nexmark q11: user sessions. How many bids each bidder made in each
-- session they were active: session windows with a 10 s gap, in Flink's
-- legacy group-window syntax (`GROUP BY ..., SESSION(...)`, which Squall
-- rewrites into the SESSION window TVF partitioned by the bidder). A
-- session is emitted when the watermark passes its end.
CREATE TABLE nexmark_q11 (
  bidder BIGINT,
  bid_count BIGINT,
  starttime TIMESTAMP(3),
  endtime TIMESTAMP(3)
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

INSERT INTO nexmark_q11
SELECT
    B.bidder,
    count(*) as bid_count,
    SESSION_START(B.`dateTime`, INTERVAL '10' SECOND) as starttime,
    SESSION_END(B.`dateTime`, INTERVAL '10' SECOND) as endtime
FROM bid B
GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '10' SECOND);
