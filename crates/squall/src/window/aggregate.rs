//! [`AggregateFunction`]: incremental aggregation, Flink's interface of the
//! same name.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Folds records into an accumulator one at a time, so a window keeps one
/// accumulator instead of its records. `merge` combines two accumulators
/// (session windows that merge, partial aggregates).
///
/// # Examples
/// ```
/// use squall::window::AggregateFunction;
///
/// /// Mean of f64 values.
/// #[derive(Clone)]
/// struct Mean;
/// impl AggregateFunction for Mean {
///     type In = f64;
///     type Acc = (f64, u64);
///     type Out = f64;
///     fn create(&self) -> (f64, u64) { (0.0, 0) }
///     fn add(&self, acc: &mut (f64, u64), x: &f64) { acc.0 += x; acc.1 += 1; }
///     fn merge(&self, acc: &mut (f64, u64), other: (f64, u64)) { acc.0 += other.0; acc.1 += other.1; }
///     fn result(&self, acc: &(f64, u64)) -> f64 { acc.0 / acc.1 as f64 }
/// }
/// let mut acc = Mean.create();
/// Mean.add(&mut acc, &1.0);
/// Mean.add(&mut acc, &3.0);
/// assert_eq!(Mean.result(&acc), 2.0);
/// ```
pub trait AggregateFunction: Clone + Send + 'static {
    /// A record.
    type In;
    /// The running state of one window (and key); serializable, since
    /// checkpoints store the accumulators of open windows.
    type Acc: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// The result.
    type Out;
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Adds one record.
    fn add(&self, acc: &mut Self::Acc, input: &Self::In);
    /// Adds everything `other` holds.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The result so far (the accumulator is kept; a window may fire again).
    fn result(&self, acc: &Self::Acc) -> Self::Out;
}

/// A reduce function as an [`AggregateFunction`] (Flink's
/// `WindowedStream.reduce`): the accumulator is the reduction of the
/// window's records so far, `f(previous, record)`.
pub struct ReduceAggregate<T> {
    f: std::sync::Arc<dyn Fn(T, T) -> T + Send + Sync>,
}

impl<T> Clone for ReduceAggregate<T> {
    fn clone(&self) -> Self {
        ReduceAggregate { f: self.f.clone() }
    }
}

impl<T> ReduceAggregate<T> {
    /// Reduces with `f`.
    pub fn new(f: impl Fn(T, T) -> T + Send + Sync + 'static) -> Self {
        ReduceAggregate { f: std::sync::Arc::new(f) }
    }
}

impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> AggregateFunction
    for ReduceAggregate<T>
{
    type In = T;
    type Acc = Option<T>;
    type Out = T;
    fn create(&self) -> Option<T> {
        None
    }
    fn add(&self, acc: &mut Option<T>, input: &T) {
        self.merge(acc, Some(input.clone()));
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        *acc = match (acc.take(), other) {
            (Some(a), Some(b)) => Some((self.f)(a, b)),
            (a, b) => a.or(b),
        };
    }
    /// # Panics
    /// On an empty accumulator: a window fires only once it holds a record.
    fn result(&self, acc: &Option<T>) -> T {
        acc.clone().expect("a window fires only once it holds a record")
    }
}
