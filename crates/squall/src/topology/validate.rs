//! Validation of a logical graph before anything runs.
//!
//! Every rule names the component at fault. Returns a topological order
//! (Kahn's algorithm), which also finds cycles.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::topology::builder::{ComponentDef, ComponentKind};
use crate::topology::{Grouping, TopologyConfig};

/// Checks `components` and returns their indices in topological order.
pub(crate) fn validate(components: &[ComponentDef], config: &TopologyConfig) -> Result<Vec<usize>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, c) in components.iter().enumerate() {
        if c.id.is_empty() {
            return Err(Error::invalid("", "component id is empty"));
        }
        if index.insert(c.id.as_str(), i).is_some() {
            return Err(Error::invalid(&c.id, "component id is used twice"));
        }
        if c.parallelism == 0 {
            return Err(Error::invalid(&c.id, "parallelism is 0; it must be at least 1"));
        }
        if c.parallelism > config.max_parallelism {
            return Err(Error::invalid(
                &c.id,
                format!(
                    "parallelism {} exceeds max_parallelism {}",
                    c.parallelism, config.max_parallelism
                ),
            ));
        }
        let mut seen = HashSet::new();
        for s in &c.streams {
            if !seen.insert(s.id.as_str()) {
                return Err(Error::invalid(&c.id, format!("stream '{}' is declared twice", s.id)));
            }
        }
    }
    if !components.iter().any(|c| matches!(c.kind, ComponentKind::Spout(_))) {
        return Err(Error::invalid("", "the topology has no spout"));
    }

    for c in components {
        if let ComponentKind::Bolt { inputs, .. } = &c.kind {
            if inputs.is_empty() {
                return Err(Error::invalid(&c.id, "bolt has no inputs"));
            }
            for input in inputs {
                let Some(&p) = index.get(input.component.as_str()) else {
                    return Err(Error::invalid(
                        &c.id,
                        format!("input from unknown component '{}'", input.component),
                    ));
                };
                let producer = &components[p];
                let Some(stream) = producer.stream(&input.stream) else {
                    return Err(Error::invalid(
                        &c.id,
                        format!(
                            "input from component '{}' names stream '{}', which it does not declare",
                            input.component, input.stream
                        ),
                    ));
                };
                match &input.grouping {
                    Grouping::Fields(fields) => {
                        if fields.is_empty() {
                            return Err(Error::invalid(&c.id, "fields grouping with no fields"));
                        }
                        for f in fields.names() {
                            if !stream.fields.contains(f) {
                                return Err(Error::invalid(
                                    &c.id,
                                    format!(
                                        "fields grouping on '{f}', but stream '{}' of '{}' declares only {:?}",
                                        input.stream,
                                        input.component,
                                        stream.fields.names()
                                    ),
                                ));
                            }
                        }
                    }
                    Grouping::Direct if !stream.direct => {
                        return Err(Error::invalid(
                            &c.id,
                            format!(
                                "direct grouping on stream '{}' of '{}', which is not declared direct",
                                input.stream, input.component
                            ),
                        ));
                    }
                    Grouping::Forward if producer.parallelism != c.parallelism => {
                        return Err(Error::invalid(
                            &c.id,
                            format!(
                                "forward grouping needs equal parallelism, but '{}' has {} and '{}' has {}",
                                input.component, producer.parallelism, c.id, c.parallelism
                            ),
                        ));
                    }
                    _ => {}
                }
                if stream.direct && input.grouping != Grouping::Direct {
                    return Err(Error::invalid(
                        &c.id,
                        format!(
                            "stream '{}' of '{}' is direct; subscribe to it with a direct grouping",
                            input.stream, input.component
                        ),
                    ));
                }
            }
        }
    }

    // Kahn's algorithm; what is left over lies on a cycle.
    let n = components.len();
    let mut indegree = vec![0usize; n];
    let mut consumers: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, c) in components.iter().enumerate() {
        let producers: HashSet<usize> =
            c.inputs().iter().map(|inp| index[inp.component.as_str()]).collect();
        indegree[i] = producers.len();
        for p in producers {
            consumers[p].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).rev().collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &c in consumers[i].iter().rev() {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(c);
            }
        }
    }
    if order.len() < n {
        let on_cycle = (0..n).find(|&i| indegree[i] > 0).expect("some component is left");
        return Err(Error::invalid(
            &components[on_cycle].id,
            "the component is part of a cycle; topologies must be acyclic",
        ));
    }
    Ok(order)
}
