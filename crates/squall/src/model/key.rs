//! [`Key`]: the values of a tuple's key fields, usable as a hash map key.

use std::hash::{Hash, Hasher};

use super::{Value, Values};

/// A key of several values (or of one value that is not a string).
///
/// Equality agrees with [`Value`]'s hash (floats compare by their bits, with
/// `-0.0` equal to `0.0`, and a NaN equal to itself), so it is a lawful
/// `HashMap` key even though `Value` is only `PartialEq`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Key(pub(crate) Values);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| same(a, b))
    }
}

impl Eq for Key {}

/// Value equality consistent with `Value`'s `Hash`.
fn same(a: &Value, b: &Value) -> bool {
    let bits = |f: f64| {
        if f == 0.0 {
            0.0f64.to_bits()
        } else {
            f.to_bits()
        }
    };
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => bits(*x) == bits(*y),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}
