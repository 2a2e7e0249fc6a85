-- Nexmark q19: auction top-10 price. The 10 highest bids of each auction
-- with their rank: a Top-N (`ROW_NUMBER() ... WHERE rank_number <= 10`),
-- an updating result: a higher bid shifts the ranks below it, and the sink
-- gets the changelog (+I, -U, +U as a first column `op`).
CREATE TABLE nexmark_q19 (
    auction  BIGINT,
    bidder  BIGINT,
    price  BIGINT,
    channel  VARCHAR,
    url  VARCHAR,
    `dateTime`  TIMESTAMP(3),
    extra  VARCHAR,
    rank_number  BIGINT
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

INSERT INTO nexmark_q19
SELECT * FROM
(SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
WHERE rank_number <= 10;
