-- Nexmark q12: processing-time windows. How many bids each bidder makes
-- in 10 seconds of processing time: `PROCTIME()` as a computed column of
-- a view, a TUMBLE window on it that fires on the wall clock (no
-- watermark). Results depend on when the bids arrive.
CREATE TABLE nexmark_q12 (
  bidder BIGINT,
  bid_count BIGINT,
  starttime TIMESTAMP(3),
  endtime TIMESTAMP(3)
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

CREATE VIEW B AS SELECT *, PROCTIME() as p_time FROM bid;

INSERT INTO nexmark_q12
SELECT
    bidder,
    count(*) as bid_count,
    window_start AS starttime,
    window_end AS endtime
FROM TABLE(
        TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
GROUP BY bidder, window_start, window_end;
