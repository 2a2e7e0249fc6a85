//! [`Native`]: a typed Rust record inside a [`super::Value`], so that the
//! DataStream API's `Stream<T>` runs on the same tuples and channels as
//! Storm's topologies without encoding each record.
//!
//! In one process a `Native` holds the record itself (`Box<dyn Any>`): it
//! moves through channels and chained operators as a pointer, and is
//! cloned (with `T::clone`) only where a tuple is, for an all-grouping. When
//! a tuple crosses a process boundary its `Native` is serialized once with
//! serde into postcard bytes, and the typed consumer decodes it on
//! [`Native::take`]. See `docs/architecture.md` ("Typed records").

use std::any::Any;
use std::fmt;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// What a DataStream record must be: Flink's serializable, cloneable type.
/// Implemented for every type with these bounds.
pub trait Data: Clone + Send + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> Data for T {}

/// The type-specific operations of a live record.
struct VTable {
    clone: fn(&(dyn Any + Send)) -> Box<dyn Any + Send>,
    encode: fn(&(dyn Any + Send)) -> Vec<u8>,
    type_name: fn() -> &'static str,
}

struct VTableOf<T>(std::marker::PhantomData<T>);

impl<T: Data> VTableOf<T> {
    const VTABLE: VTable = VTable {
        clone: |v| Box::new(v.downcast_ref::<T>().expect("vtable of its type").clone()),
        encode: |v| {
            postcard::to_allocvec(v.downcast_ref::<T>().expect("vtable of its type"))
                .expect("encoding to a vector does not fail")
        },
        type_name: std::any::type_name::<T>,
    };
}

/// `Live` sits in a mutex only so that `Value` is `Sync` while `T` need
/// only be `Send` (the agreed `Data` bound); a record is taken by value
/// (`into_inner`, no locking), and locked only to clone or encode it.
enum Repr {
    Live(Mutex<Box<dyn Any + Send>>, &'static VTable),
    Encoded(Vec<u8>),
}

/// A typed record in a tuple: live in one process, postcard bytes after a
/// process boundary.
pub struct Native(Repr);

impl Native {
    /// Wraps `value` (no copy, no encoding).
    pub fn new<T: Data>(value: T) -> Native {
        Native(Repr::Live(Mutex::new(Box::new(value)), &VTableOf::<T>::VTABLE))
    }

    /// Whether the record is live (not yet decoded after crossing a
    /// process boundary).
    pub fn is_live(&self) -> bool {
        matches!(self.0, Repr::Live(..))
    }

    /// Takes the record out: moved if live, decoded if it crossed a process.
    ///
    /// # Errors
    /// [`Error::Other`] naming both types if the record is another type, or
    /// the bytes do not decode as a `T`.
    pub fn take<T: Data>(self) -> Result<T> {
        match self.0 {
            Repr::Live(v, vt) => {
                let v = v.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
                v.downcast::<T>().map(|b| *b).map_err(|_| {
                    Error::Other(format!(
                        "a stream of {} received a record of {}",
                        std::any::type_name::<T>(),
                        (vt.type_name)()
                    ))
                })
            }
            Repr::Encoded(bytes) => postcard::from_bytes(&bytes).map_err(|e| {
                Error::Other(format!("cannot decode a {}: {e}", std::any::type_name::<T>()))
            }),
        }
    }

    /// The record's bytes (postcard), as it crosses a process boundary.
    pub fn encode(&self) -> Vec<u8> {
        match &self.0 {
            Repr::Live(v, vt) => (vt.encode)(lock(v).as_ref()),
            Repr::Encoded(b) => b.clone(),
        }
    }
}

/// The record behind the lock; a panic while it was held cannot have left
/// it half-changed (nothing mutates it in place).
fn lock(v: &Mutex<Box<dyn Any + Send>>) -> std::sync::MutexGuard<'_, Box<dyn Any + Send>> {
    v.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Clone for Native {
    fn clone(&self) -> Self {
        match &self.0 {
            Repr::Live(v, vt) => Native(Repr::Live(Mutex::new((vt.clone)(lock(v).as_ref())), vt)),
            Repr::Encoded(b) => Native(Repr::Encoded(b.clone())),
        }
    }
}

impl PartialEq for Native {
    /// Equal when their encodings are (slow; for tests and rare use).
    fn eq(&self, other: &Self) -> bool {
        self.encode() == other.encode()
    }
}

impl fmt::Debug for Native {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Live(_, vt) => write!(f, "Native({})", (vt.type_name)()),
            Repr::Encoded(b) => write!(f, "Native({} bytes)", b.len()),
        }
    }
}

impl Serialize for Native {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Native {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let bytes: serde_bytes_compat::Bytes = Deserialize::deserialize(d)?;
        Ok(Native(Repr::Encoded(bytes.0)))
    }
}

/// Reads bytes written by `serialize_bytes` from formats that give them as
/// bytes or as a sequence of numbers.
mod serde_bytes_compat {
    use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

    pub struct Bytes(pub Vec<u8>);

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(Bytes(out))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Flight {
        origin: String,
        delay: Option<i64>,
    }

    #[test]
    fn live_records_move_and_encoded_ones_decode() {
        let f = Flight { origin: "JFK".into(), delay: Some(3) };
        let n = Native::new(f.clone());
        assert!(n.is_live());
        assert_eq!(n.clone().take::<Flight>().unwrap(), f);
        // Across a process boundary: serde out, serde in, decode on take.
        let wire = postcard::to_allocvec(&crate::Value::Native(n)).unwrap();
        let back: crate::Value = postcard::from_bytes(&wire).unwrap();
        let crate::Value::Native(back) = back else { panic!("a native value") };
        assert!(!back.is_live(), "encoded until taken");
        assert_eq!(back.take::<Flight>().unwrap(), f);
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Native::new(5u32).take::<String>().unwrap_err().to_string();
        assert!(e.contains("String") && e.contains("u32"), "{e}");
    }
}
