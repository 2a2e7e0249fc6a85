//! [`Key`]: the values of a tuple's key fields, usable as a hash map key.

use std::hash::{Hash, Hasher};

use compact_str::CompactString;

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
pub(crate) fn same(a: &Value, b: &Value) -> bool {
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

/// A hash map key on a per-record path: one string (inline up to 24 bytes)
/// or one int held in the map's own entry, else a [`Key`].
///
/// Comparing a [`Key`] follows two pointers (its values, then a string's
/// bytes), each a likely cache miss once the map outgrows the cache; an
/// inline key is compared where the hash table probe already is. Equality
/// and hashing are those of the key's values; it is serialized as its
/// values, exactly as a [`Key`] is, so stored state reads back either way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum InlineKey {
    /// One string value.
    Str(CompactString),
    /// One int value.
    Int(i64),
    /// Any other key.
    Other(Key),
}

impl InlineKey {
    /// The key of one value, if it can be held inline.
    pub fn of_one(value: &Value) -> Option<InlineKey> {
        match value {
            Value::String(s) => Some(InlineKey::Str(CompactString::from(s.as_str()))),
            Value::Int(i) => Some(InlineKey::Int(*i)),
            _ => None,
        }
    }

    /// The key of `values`.
    pub fn from_values(mut values: Values) -> InlineKey {
        match values.len() {
            1 => InlineKey::of_one(&values[0])
                .unwrap_or_else(|| InlineKey::Other(Key(vec![values.pop().expect("one value")]))),
            _ => InlineKey::Other(Key(values)),
        }
    }

    /// The key's values.
    pub fn into_values(self) -> Values {
        match self {
            InlineKey::Str(s) => vec![Value::String(s.into_string())],
            InlineKey::Int(i) => vec![Value::Int(i)],
            InlineKey::Other(key) => key.0,
        }
    }

    /// A copy of the key's values.
    pub fn to_values(&self) -> Values {
        self.clone().into_values()
    }
}

impl serde::Serialize for InlineKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            InlineKey::Other(key) => key.serialize(serializer),
            inline => inline.to_values().serialize(serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for InlineKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Values::deserialize(deserializer).map(InlineKey::from_values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_keys_equal_by_value_and_serialize_as_their_values() {
        let word = InlineKey::from_values(vec![Value::from("k00042")]);
        assert_eq!(word, InlineKey::Str("k00042".into()));
        assert_eq!(InlineKey::from_values(vec![Value::Int(7)]), InlineKey::Int(7));
        let ts = InlineKey::from_values(vec![Value::Timestamp(7)]);
        assert_ne!(ts, InlineKey::Int(7), "a timestamp is not an int");
        let two = vec![Value::from("a"), Value::Int(1)];
        assert_eq!(InlineKey::from_values(two.clone()), InlineKey::Other(Key(two.clone())));
        for key in [word, ts, InlineKey::from_values(two)] {
            let bytes = serde_json::to_vec(&key).unwrap();
            assert_eq!(bytes, serde_json::to_vec(&Key(key.to_values())).unwrap());
            assert_eq!(serde_json::from_slice::<InlineKey>(&bytes).unwrap(), key);
        }
    }
}
