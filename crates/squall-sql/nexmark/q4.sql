-- Nexmark q4: average price for a category. The average of the winning
-- bid prices of all auctions in each category: a join, then two
-- non-windowed GROUP BYs whose results update (each auction's maximum as
-- bids come, each category's average as maxima change). The sink gets
-- the changelog (+I, -U, +U, -D as a first column `op`).
-- Flink's suite declares `final BIGINT` (Flink's AVG of BIGINT is a
-- BIGINT); here the average is a DOUBLE.
CREATE TABLE nexmark_q4 (
  id BIGINT,
  `final` DOUBLE
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

INSERT INTO nexmark_q4
SELECT
    Q.category,
    AVG(Q.`final`)
FROM (
    SELECT MAX(B.price) AS `final`, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
