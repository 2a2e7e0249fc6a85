-- Nexmark q6: average selling price by seller. For each winning bid (the
-- highest bid of an auction while it was open, a Top-1 per auction as in
-- q9), the average of the seller's last 11 winning prices up to it: an
-- OVER aggregate (`ROWS BETWEEN 10 PRECEDING AND CURRENT ROW`) over the
-- updating Top-1. When a higher bid replaces an auction's winner, the
-- rows whose frames it falls in are retracted and emitted again, so the
-- sink gets a changelog (+I, -U, +U, -D as a first column `op`).
--
-- Flink's suite text, with its `WHERE rownum <= 1` (written inside the
-- subquery that names `rownum`, which Flink's planner refuses too) one
-- level up, where `rownum` is in scope. Flink's suite marks q6 as not
-- supported: its OVER aggregate takes no retractions. The sink's
-- `seller VARCHAR` and `avg_price BIGINT` are Flink's (the average cast
-- to BIGINT truncates).
CREATE TABLE nexmark_q6 (
  seller VARCHAR,
  avg_price  BIGINT
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

INSERT INTO nexmark_q6
SELECT
    Q.seller,
    AVG(Q.price) OVER
        (PARTITION BY Q.seller ORDER BY Q.`dateTime` ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)
FROM (
    SELECT * FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY id, seller ORDER BY price DESC) AS rownum
        FROM (SELECT A.id, A.seller, B.price, B.`dateTime`
            FROM auction AS A,
                bid AS B
            WHERE A.id = B.auction
                and B.`dateTime` between A.`dateTime` and A.expires)
    )
    WHERE rownum <= 1
) AS Q;
