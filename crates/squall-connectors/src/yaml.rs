//! The YAML kinds of this crate: spout `kafka` and bolt `kafka`, whose
//! settings are [`KafkaSpoutOptions`] and [`KafkaSinkOptions`].

use squall::builtins::extensions::{register_bolt, register_spout};
use squall::builtins::registry::{bolt_factory, settings, spout_factory, BuiltBolt, BuiltSpout};
use squall::Result;

use crate::{KafkaSinkBolt, KafkaSinkOptions, KafkaSpout, KafkaSpoutOptions};

/// Registers spout kind `kafka` and bolt kind `kafka` with the core's
/// component registry. Call once before loading YAML topologies.
pub fn register() {
    register_spout("kafka", kafka_spout);
    register_bolt("kafka", kafka_sink);
}

fn kafka_spout(value: &serde_yaml_ng::Value) -> Result<BuiltSpout> {
    let options: KafkaSpoutOptions = settings("spout 'kafka'", value)?;
    let description =
        format!("kafka spout over {} at {}", options.topics.join(", "), options.brokers);
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
    }
}
