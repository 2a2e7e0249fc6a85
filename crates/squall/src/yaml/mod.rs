//! YAML topologies.
