#!/usr/bin/env bash
# Runs every test (the README's test command; run scripts/setup.sh first):
# the suites behind cargo features that need a system library or a server
# (the rocksdb state backend, checkpoints on S3 via moto, Kafka via Apache
# Kafka and tansu,
# Redis, PostgreSQL and S3 output for the connectors),
# then the whole workspace. Servers are started by the tests on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

# The web UI's committed bundle (ui/dist, embedded in the binary) is what
# ui/src builds. Its browser tests (crates/squall-cli/tests/ui_*.rs, headless
# Chromium) run with the workspace below.
bash scripts/build-ui.sh --check

# The rocksdb backend links Debian's librocksdb instead of building RocksDB's C++.
ROCKSDB_LIB_DIR="/usr/lib/$(gcc -dumpmachine)" \
    cargo test --locked -p squall --features rocksdb --lib --test exactly_once \
        --test incremental_checkpoints --test savepoints
cargo test --locked -p squall --features s3 --test s3_checkpoints
# The Kafka suite against Apache Kafka's own broker (the reference), then
# against tansu as a second broker: there the tests that need real
# transactions print why and skip.
KAFKA_LIB="$(bash scripts/fetch-kafka.sh)" \
    cargo test --locked -p squall-connectors --features kafka-tests --test kafka
# SQL tables over Kafka topics (and a socket) against DuckDB. Built with the
# whole workspace's features, as the last run below, so that DataFusion is
# not compiled a second time with another feature set.
KAFKA_LIB="$(bash scripts/fetch-kafka.sh)" \
    cargo test --locked --workspace --features squall-sql/kafka-tests --test stream_tables
# The same word count over two cluster workers, one SIGKILLed.
KAFKA_LIB="$(bash scripts/fetch-kafka.sh)" \
    cargo test --locked -p squall-cli --features kafka-tests --test cluster_kafka
env -u KAFKA_LIB TANSU_BIN="$(bash scripts/fetch-tansu.sh)" \
    cargo test --locked -p squall-connectors --features kafka-tests --test kafka
cargo test --locked -p squall-connectors --features server-tests
# SQL upsert tables ('jdbc', 'redis') against PostgreSQL and Redis, built
# with the workspace's features as stream_tables above.
cargo test --locked --workspace --features squall-sql/server-tests --test upsert_sinks

# Last, so that its summary closes the log.
cargo test --workspace --locked
