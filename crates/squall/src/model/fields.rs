//! [`Fields`]: the named schema of a stream.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The ordered field names of a stream, as Storm's `Fields`.
///
/// Cheap to clone (the names are shared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Fields(Arc<[String]>);

impl Fields {
    /// A schema with these field names, in order.
    ///
    /// # Examples
    /// ```
    /// use squall::Fields;
    /// let f = Fields::new(["word", "count"]);
    /// assert_eq!(f.index_of("count"), Some(1));
    /// ```
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Fields(names.into_iter().map(Into::into).collect())
    }

    /// The position of `name`, if the schema has it.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|f| f == name)
    }

    /// Whether the schema has `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The field names in order.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The field name at `index`.
    pub fn get(&self, index: usize) -> Option<&str> {
        self.0.get(index).map(String::as_str)
    }
}

impl<S: Into<String>> FromIterator<S> for Fields {
    fn from_iter<T: IntoIterator<Item = S>>(iter: T) -> Self {
        Fields::new(iter)
    }
}
