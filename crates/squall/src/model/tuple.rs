//! [`Tuple`]: values plus the component, stream and task that emitted them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Fields, Value};
use crate::error::{Error, Result};

/// The values of one tuple, in the order of its stream's [`Fields`].
pub type Values = Vec<Value>;

/// A tracked tuple's ids, Storm's `MessageId`: for each spout tuple (root
/// id) whose tree it belongs to, its own 64-bit edge id. Empty when tuples
/// are not tracked or the tuple was emitted unanchored.
pub(crate) type AnchorIds = smallvec::SmallVec<[(u64, u64); 1]>;

/// Storm's `ackVal`: the XOR of the edge ids of the tuples emitted anchored
/// to a tuple. Only its own task touches it (relaxed loads and stores, so
/// no read-modify-write cost); atomic only so that a `Tuple` is `Sync`.
#[derive(Debug, Default)]
pub(crate) struct AckVal(AtomicU64);

impl AckVal {
    /// The XOR so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// XORs in the edge id of a new child.
    pub fn xor(&self, id: u64) {
        self.0.store(self.get() ^ id, Ordering::Relaxed);
    }
}

impl Clone for AckVal {
    fn clone(&self) -> Self {
        AckVal(AtomicU64::new(self.get()))
    }
}

impl PartialEq for AckVal {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// Where a tuple came from: the emitting component, its stream and task, and
/// the stream's schema. Shared by all tuples of one output batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TupleSource {
    /// Id of the component that emitted the tuple.
    pub component: String,
    /// Stream the tuple was emitted on.
    pub stream: String,
    /// Global task id of the emitting task.
    pub task: usize,
    /// The stream's declared fields.
    pub fields: Fields,
}

/// A tuple as a bolt receives it.
///
/// Reading a field that is missing or of another type returns an error that
/// names the field and the emitting component; it never panics.
///
/// With tracking on (`at_least_once`), a tuple also carries its ids in the
/// tuple trees it belongs to; ack, fail and anchor to the tuple you were
/// given (a clone shares the ids but not the record of its children).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuple {
    source: Arc<TupleSource>,
    values: Values,
    /// Tree ids; they travel beside the batch on a channel, not in here.
    #[serde(skip)]
    pub(crate) ids: AnchorIds,
    /// XOR of the ids of the tuples emitted anchored to this one (Storm's
    /// `ackVal`), sent to the acker with the ack.
    #[serde(skip)]
    pub(crate) ack_val: AckVal,
    /// How many emitted tuples this one stands for (see [`Tuple::weight`]).
    #[serde(skip, default = "one")]
    pub(crate) weight: u64,
}

fn one() -> u64 {
    1
}

impl Tuple {
    /// A tuple of `values` emitted by `source`.
    pub fn new(source: Arc<TupleSource>, values: Values) -> Self {
        Tuple { source, values, ids: AnchorIds::new(), ack_val: AckVal::default(), weight: 1 }
    }

    /// A tracked tuple with its tree ids.
    pub(crate) fn with_ids(source: Arc<TupleSource>, values: Values, ids: AnchorIds) -> Self {
        Tuple { source, values, ids, ack_val: AckVal::default(), weight: 1 }
    }

    /// How many emitted tuples with this tuple's key this one stands for:
    /// 1, unless the receiving bolt declared
    /// [`crate::InputCombining::Count`] and its producer merged equal keys
    /// before the shuffle. Always at least 1.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    /// The component that emitted this tuple.
    pub fn source_component(&self) -> &str {
        &self.source.component
    }

    /// The stream this tuple was emitted on.
    pub fn source_stream(&self) -> &str {
        &self.source.stream
    }

    /// The global id of the task that emitted this tuple.
    pub fn source_task(&self) -> usize {
        self.source.task
    }

    /// Full description of the source.
    pub fn source(&self) -> &Arc<TupleSource> {
        &self.source
    }

    /// The stream's schema.
    pub fn fields(&self) -> &Fields {
        &self.source.fields
    }

    /// All values, in field order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Takes the values out of the tuple (no copy).
    pub fn into_values(self) -> Values {
        self.values
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the tuple has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value at `index`.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if the tuple has fewer values.
    pub fn get(&self, index: usize) -> Result<&Value> {
        self.values.get(index).ok_or_else(|| self.no_such(format!("#{index}")))
    }

    /// The position of field `name` in this tuple's schema.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if the stream does not declare `name`.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.source.fields.index_of(name).ok_or_else(|| self.no_such(format!("'{name}'")))
    }

    /// The value of field `name`.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if the stream does not declare `name` or the
    /// tuple is shorter than its schema.
    pub fn get_by_field(&self, name: &str) -> Result<&Value> {
        let i = self.index_of(name)?;
        self.values.get(i).ok_or_else(|| self.no_such(format!("'{name}'")))
    }

    /// The text of field `name`.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if missing, [`Error::WrongType`] if not a string.
    pub fn get_str(&self, name: &str) -> Result<&str> {
        let v = self.get_by_field(name)?;
        v.as_str().ok_or_else(|| self.wrong(format!("'{name}'"), "string", v))
    }

    /// The text at `index`.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if missing, [`Error::WrongType`] if not a string.
    pub fn get_str_at(&self, index: usize) -> Result<&str> {
        let v = self.get(index)?;
        v.as_str().ok_or_else(|| self.wrong(format!("#{index}"), "string", v))
    }

    /// The integer of field `name`.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if missing, [`Error::WrongType`] if not an int.
    pub fn get_i64(&self, name: &str) -> Result<i64> {
        let v = self.get_by_field(name)?;
        v.as_i64().ok_or_else(|| self.wrong(format!("'{name}'"), "int", v))
    }

    /// The integer at `index`.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if missing, [`Error::WrongType`] if not an int.
    pub fn get_i64_at(&self, index: usize) -> Result<i64> {
        let v = self.get(index)?;
        v.as_i64().ok_or_else(|| self.wrong(format!("#{index}"), "int", v))
    }

    /// The float of field `name` (an int is widened).
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if missing, [`Error::WrongType`] if not numeric.
    pub fn get_f64(&self, name: &str) -> Result<f64> {
        let v = self.get_by_field(name)?;
        v.as_f64().ok_or_else(|| self.wrong(format!("'{name}'"), "float", v))
    }

    /// The boolean of field `name`.
    ///
    /// # Errors
    /// [`Error::NoSuchField`] if missing, [`Error::WrongType`] if not a bool.
    pub fn get_bool(&self, name: &str) -> Result<bool> {
        let v = self.get_by_field(name)?;
        v.as_bool().ok_or_else(|| self.wrong(format!("'{name}'"), "bool", v))
    }

    /// Selects the values of `fields`, in that order (for fields grouping and
    /// keys).
    ///
    /// # Errors
    /// [`Error::NoSuchField`] naming the first field the stream lacks.
    pub fn select(&self, fields: &Fields) -> Result<Values> {
        fields.names().iter().map(|f| self.get_by_field(f).cloned()).collect()
    }

    fn no_such(&self, field: String) -> Error {
        Error::NoSuchField {
            component: self.source.component.clone(),
            stream: self.source.stream.clone(),
            field,
        }
    }

    fn wrong(&self, field: String, expected: &'static str, found: &Value) -> Error {
        Error::WrongType {
            component: self.source.component.clone(),
            stream: self.source.stream.clone(),
            field,
            expected,
            found: found.type_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> Tuple {
        let src = TupleSource {
            component: "split".into(),
            stream: "default".into(),
            task: 3,
            fields: Fields::new(["word", "n"]),
        };
        Tuple::new(Arc::new(src), vec![Value::from("hello"), Value::Int(2)])
    }

    #[test]
    fn reads_fields_by_name_and_index() {
        let t = tuple();
        assert_eq!(t.get_str("word").unwrap(), "hello");
        assert_eq!(t.get_i64("n").unwrap(), 2);
        assert_eq!(t.get_i64_at(1).unwrap(), 2);
        assert_eq!(t.get_f64("n").unwrap(), 2.0);
        assert_eq!(t.source_component(), "split");
        assert_eq!(t.source_task(), 3);
    }

    #[test]
    fn missing_field_names_field_and_component() {
        let err = tuple().get_str("nope").unwrap_err().to_string();
        assert!(err.contains("'nope'") && err.contains("'split'"), "{err}");
        let err = tuple().get(7).unwrap_err().to_string();
        assert!(err.contains("#7") && err.contains("'split'"), "{err}");
    }

    #[test]
    fn wrong_type_names_both_types() {
        let err = tuple().get_i64("word").unwrap_err().to_string();
        assert!(err.contains("'word'") && err.contains("string") && err.contains("int"), "{err}");
        assert!(err.contains("'split'"), "{err}");
    }

    #[test]
    fn tuple_round_trips_through_serde() {
        let t = tuple();
        let text = serde_yaml_ng::to_string(&t).unwrap();
        let back: Tuple = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, t);
    }
}
