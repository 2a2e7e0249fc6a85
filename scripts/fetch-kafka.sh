#!/usr/bin/env bash
# Fetches Apache Kafka (the broker the Kafka connector tests run against)
# from Maven Central: the jars of `org.apache.kafka:kafka_2.13`,
# `kafka-server` and `kafka-tools` with their runtime dependencies, copied by
# `mvn dependency:copy-dependencies` from a small pom into one cache folder.
# Prints that folder (a `lib` of jars: run the broker with
# `java -cp 'lib/*' kafka.Kafka server.properties`); the tests read it from
# $KAFKA_LIB. Does nothing but print the path when the jars are there.
#
# Usage: scripts/fetch-kafka.sh              # prints .../kafka-4.1.1/lib
# Needs: mvn and a JDK (17+) on the first run, network access to Maven
# Central; KAFKA_VERSION picks another 4.x release.
set -euo pipefail

readonly VERSION="${KAFKA_VERSION:-4.1.1}"
cache="${SQUALL_CACHE:-$HOME/.cache/squall}/kafka-$VERSION"
lib="$cache/lib"

if [[ -f "$cache/.complete" ]]; then
    echo "$lib"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>squall</groupId>
  <artifactId>fetch-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-server</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
POM
rm -rf "$lib"
mkdir -p "$lib"
mvn -q -B -f "$tmp/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib" >&2
if ! ls "$lib"/kafka_2.13-"$VERSION".jar >/dev/null 2>&1; then
    echo "error: mvn did not produce kafka_2.13-$VERSION.jar in $lib" >&2
    exit 1
fi
touch "$cache/.complete"
echo "fetched Apache Kafka $VERSION ($(ls "$lib" | wc -l) jars) from Maven Central" >&2
echo "$lib"
