//! [`AggregateFunction`]: incremental aggregation, Flink's interface of the
//! same name.

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
    /// The running state of one window (and key).
    type Acc: Clone + Send + 'static;
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
