-- Nexmark q18: find last bid. Each bidder's last bid on each auction: a
-- deduplication (`ROW_NUMBER() ... ORDER BY dateTime DESC` = 1 per bidder
-- and auction), an updating result: the sink gets the changelog (+I, -U,
-- +U as a first column `op`).
CREATE TABLE nexmark_q18 (
    auction  BIGINT,
    bidder  BIGINT,
    price  BIGINT,
    channel  VARCHAR,
    url  VARCHAR,
    `dateTime`  TIMESTAMP(3),
    extra  VARCHAR
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

INSERT INTO nexmark_q18
SELECT auction, bidder, price, channel, url, `dateTime`, extra
 FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY `dateTime` DESC) AS rank_number
       FROM bid)
 WHERE rank_number <= 1;
