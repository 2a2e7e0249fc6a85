//! The YAML kinds of this crate: spouts `kafka` and `socket`
//! ([`SocketSpoutOptions`]) and bolts `kafka`, `redis`
//! `postgres` and `rolling_file` ([`RollingFileSinkOptions`]), whose settings are [`KafkaSpoutOptions`],
//! [`KafkaSinkOptions`], [`RedisSinkOptions`] and [`PostgresSinkOptions`];
//! and `shell`, a spout or a bolt in another language
//! ([`crate::multilang::ShellSettings`]).

use std::sync::Arc;

use squall::builtins::extensions::{register_bolt, register_spout};
use squall::builtins::registry::{bolt_factory, settings, spout_factory, BuiltBolt, BuiltSpout};
use squall::{Bolt, Result, Spout};

use crate::multilang::ShellSettings;
use crate::{
    KafkaSinkBolt, KafkaSinkOptions, KafkaSpout, KafkaSpoutOptions, PostgresSink,
    PostgresSinkOptions, RedisSink, RedisSinkOptions, RollingFileSink, RollingFileSinkOptions,
    ShellBolt, ShellSpout, SocketSpout, SocketSpoutOptions,
};

/// Registers this crate's spout and bolt kinds with the core's component
/// registry. Call once before loading YAML topologies.
pub fn register() {
    register_spout("kafka", kafka_spout);
    register_spout("socket", socket_spout);
    register_bolt("kafka", kafka_sink);
    register_bolt("redis", redis_sink);
    register_bolt("postgres", postgres_sink);
    register_bolt("rolling_file", rolling_file_sink);
    register_spout("shell", shell_spout);
    register_bolt("shell", shell_bolt);
}

fn shell_spout(value: &serde_yaml_ng::Value) -> Result<BuiltSpout> {
    let settings: ShellSettings = settings("spout 'shell'", value)?;
    if settings.max_pending.is_some() {
        return Err(squall::Error::config("spout 'shell': max_pending is for bolts only"));
    }
    if settings.fields.is_none() && settings.streams.is_empty() {
        return Err(squall::Error::config(
            "spout 'shell': declare the fields it emits (`fields`, or `streams`)",
        ));
    }
    let spec = settings.spec().map_err(|e| squall::Error::config(format!("spout 'shell': {e}")))?;
    let description = format!("multilang spout {:?}", settings.command);
    let factory = Arc::new(move || Box::new(ShellSpout::from_spec(spec.clone())) as Box<dyn Spout>);
    Ok(BuiltSpout { factory, description })
}

fn shell_bolt(value: &serde_yaml_ng::Value) -> Result<BuiltBolt> {
    let settings: ShellSettings = settings("bolt 'shell'", value)?;
    let spec = settings.spec().map_err(|e| squall::Error::config(format!("bolt 'shell': {e}")))?;
    let description = format!("multilang bolt {:?}", settings.command);
    let factory = Arc::new(move || Box::new(ShellBolt::from_spec(spec.clone())) as Box<dyn Bolt>);
    Ok(BuiltBolt { factory, output: None, description })
}

fn rolling_file_sink(value: &serde_yaml_ng::Value) -> Result<BuiltBolt> {
    let options: RollingFileSinkOptions = settings("bolt 'rolling_file'", value)?;
    let description = format!(
        "rolling CSV parts in {} (exactly-once; {} bytes / {} ms a part)",
        options.path, options.max_part_bytes, options.rollover_interval_ms
    );
    let bolt = RollingFileSink::new(options)?.bolt();
    Ok(BuiltBolt { factory: bolt_factory(bolt), output: None, description })
}

fn socket_spout(value: &serde_yaml_ng::Value) -> Result<BuiltSpout> {
    let options: SocketSpoutOptions = settings("spout 'socket'", value)?;
    let description = format!("lines from tcp {}:{}", options.host, options.port);
    Ok(BuiltSpout { factory: spout_factory(SocketSpout::new(options)), description })
}

fn redis_sink(value: &serde_yaml_ng::Value) -> Result<BuiltBolt> {
    let options: RedisSinkOptions = settings("bolt 'redis'", value)?;
    let description = match &options.hash {
        Some(h) => format!("redis HSET {h} <{}> at {}", options.key_fields.join(":"), options.url),
        None => format!(
            "redis SET {}<{}> at {}",
            options.key_prefix,
            options.key_fields.join(":"),
            options.url
        ),
    };
    let bolt = RedisSink::bolt(options)?;
    Ok(BuiltBolt { factory: bolt_factory(bolt), output: None, description })
}

fn postgres_sink(value: &serde_yaml_ng::Value) -> Result<BuiltBolt> {
    let options: PostgresSinkOptions = settings("bolt 'postgres'", value)?;
    let description =
        format!("postgres upsert into {} on ({})", options.table, options.key_fields.join(", "));
    let bolt = PostgresSink::bolt(options)?;
    Ok(BuiltBolt { factory: bolt_factory(bolt), output: None, description })
}

fn kafka_spout(value: &serde_yaml_ng::Value) -> Result<BuiltSpout> {
    let options: KafkaSpoutOptions = settings("spout 'kafka'", value)?;
    options.validate()?;
    let topics = options
        .topics
        .iter()
        .cloned()
        .chain(options.topic_pattern.iter().map(|p| format!("/{p}/")));
    let description = format!(
        "kafka spout over {} at {}",
        topics.collect::<Vec<_>>().join(", "),
        options.brokers
    );
    Ok(BuiltSpout { factory: spout_factory(KafkaSpout::new(options)), description })
}

fn kafka_sink(value: &serde_yaml_ng::Value) -> Result<BuiltBolt> {
    let options: KafkaSinkOptions = settings("bolt 'kafka'", value)?;
    let description =
        format!("kafka sink to {} at {} ({:?})", options.topic, options.brokers, options.delivery);
    Ok(BuiltBolt { factory: bolt_factory(KafkaSinkBolt::new(options)), output: None, description })
}

#[cfg(test)]
mod tests {
    use squall::builtins::registry;

    fn yaml(text: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn registered_kinds_build_from_yaml_and_refuse_typos() {
        super::register();
        assert!(registry::spout_kinds().contains(&"kafka"));
        assert!(registry::bolt_kinds().contains(&"kafka"));
        let spout = registry::spout(
            "kafka",
            &yaml("{brokers: 'h:1', topics: [t], format: {type: json, fields: [a]}}"),
        )
        .unwrap();
        assert_eq!(spout.description, "kafka spout over t at h:1");
        let sink = registry::bolt(
            "kafka",
            &yaml("{brokers: 'h:1', topic: out, delivery: exactly_once, key_field: w}"),
        )
        .unwrap();
        assert!(sink.description.contains("ExactlyOnce"), "{}", sink.description);
        let typo = registry::bolt("kafka", &yaml("{brokers: 'h:1', topik: out}"));
        let message = typo.err().expect("refused").to_string();
        assert!(message.contains("bolt 'kafka'") && message.contains("topik"), "{message}");
        let dir = tempfile::tempdir().unwrap();
        let settings = format!("{{path: '{}', max_part_bytes: 1000}}", dir.path().display());
        let files = registry::bolt("rolling_file", &yaml(&settings)).unwrap();
        assert!(files.description.contains("1000 bytes / 60000 ms"), "{}", files.description);
        let ftp = registry::bolt("rolling_file", &yaml("{path: 'ftp://x/y'}"));
        let message = ftp.err().expect("refused").to_string();
        assert!(message.contains("scheme 'ftp'"), "{message}");
        let socket = registry::spout("socket", &yaml("{port: 9999}")).unwrap();
        assert_eq!(socket.description, "lines from tcp 127.0.0.1:9999");
        let redis = registry::bolt(
            "redis",
            &yaml(
                "{url: 'redis://127.0.0.1:1/0', key_fields: [word], value_field: count, hash: wc}",
            ),
        )
        .unwrap();
        assert_eq!(redis.description, "redis HSET wc <word> at redis://127.0.0.1:1/0");
        let pg = registry::bolt(
            "postgres",
            &yaml("{url: 'host=h', table: counts, key_fields: [word], retry: {max_ms: 100}}"),
        )
        .unwrap();
        assert_eq!(pg.description, "postgres upsert into counts on (word)");
        let no_key = registry::bolt("postgres", &yaml("{url: 'host=h', table: t, key_fields: []}"));
        let message = no_key.err().expect("refused").to_string();
        assert!(message.contains("key_fields must name at least one field"), "{message}");
        let bad_url = registry::bolt("redis", &yaml("{url: 'http://x', key_fields: [k]}"));
        let message = bad_url.err().expect("refused").to_string();
        assert!(message.contains("redis sink: bad url 'http://x'"), "{message}");
        let shell = registry::bolt(
            "shell",
            &yaml("{command: [python3, split.py], fields: [word], env: {A: b}, timeout_ms: 5000}"),
        )
        .unwrap();
        assert_eq!(shell.description, r#"multilang bolt ["python3", "split.py"]"#);
        let spout = registry::spout("shell", &yaml("{command: [python3, s.py], fields: [line]}"));
        assert!(spout.is_ok());
        let msgpack = "{command: [python3, s.py], fields: [line], serializer: msgpack}";
        assert!(registry::spout("shell", &yaml(msgpack)).is_ok());
        for (kind, settings, expected) in [
            ("spout", "{command: [python3, s.py]}", "declare the fields"),
            ("spout", "{command: [x], fields: [a], max_pending: 3}", "for bolts only"),
            ("bolt", "{command: []}", "must name a program"),
            ("bolt", "{command: [x], comand: [y]}", "comand"),
            ("bolt", "{command: [x], timeout_ms: 10}", "heartbeat_interval_ms (1000)"),
            ("bolt", "{command: [x], direct_streams: [d]}", "direct stream 'd'"),
            ("bolt", "{command: [x], serializer: thrift}", "unknown serializer 'thrift'"),
        ] {
            let built = match kind {
                "spout" => registry::spout("shell", &yaml(settings)).map(|_| ()),
                _ => registry::bolt("shell", &yaml(settings)).map(|_| ()),
            };
            let message = built.expect_err("refused").to_string();
            assert!(message.contains(expected), "{settings}: {message}");
            assert!(message.contains(&format!("{kind} 'shell'")), "{message}");
        }
    }
}
