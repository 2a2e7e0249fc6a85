//! Built-in components.
