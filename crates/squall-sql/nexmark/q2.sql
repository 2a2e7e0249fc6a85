-- Nexmark q2: selection. Find bids with specific auction ids and show
-- their bid price.
CREATE TABLE nexmark_q2 (
  auction  BIGINT,
  price  BIGINT
) WITH (
  'connector' = '${SINK}',
  'path' = '${OUT}'
);

INSERT INTO nexmark_q2
SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
