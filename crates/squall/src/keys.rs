//! Key groups: how keys map to tasks so that keyed state can be rescaled.
//!
//! As in Flink, a key hashes into one of `max_parallelism` key groups, and
//! key groups map to tasks in contiguous ranges. Changing a component's
//! parallelism moves whole key groups, never splits one. The hash is xxh3
//! over the key's [`Value`]s, stable across processes and runs.

use std::ops::Range;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::model::Value;

/// Stable 64-bit hash of a key made of `values`: xxh3 over each value's
/// bytes, chained through the seed, so it is the same in every process and
/// build. Floats hash by their bits, with `-0.0` as `0.0`.
pub fn key_hash<'a>(values: impl IntoIterator<Item = &'a Value>) -> u64 {
    values.into_iter().fold(0, |seed, v| value_hash(v, seed))
}

fn value_hash(value: &Value, seed: u64) -> u64 {
    // The variant tag is mixed into the seed, so `Int(5)` and
    // `Timestamp(5)` differ.
    let tagged = |tag: u64| seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ tag;
    match value {
        Value::Null => xxh3_64_with_seed(&[], tagged(0)),
        Value::Bool(b) => xxh3_64_with_seed(&[*b as u8], tagged(1)),
        Value::Int(i) => xxh3_64_with_seed(&i.to_le_bytes(), tagged(2)),
        Value::Float(f) => {
            let f = if *f == 0.0 { 0.0 } else { *f };
            xxh3_64_with_seed(&f.to_bits().to_le_bytes(), tagged(3))
        }
        Value::String(s) => xxh3_64_with_seed(s.as_bytes(), tagged(4)),
        Value::Bytes(b) => xxh3_64_with_seed(b, tagged(5)),
        Value::Timestamp(t) => xxh3_64_with_seed(&t.to_le_bytes(), tagged(6)),
        Value::List(l) => {
            let h = l.iter().fold(tagged(7), |h, v| value_hash(v, h));
            xxh3_64_with_seed(&(l.len() as u64).to_le_bytes(), h)
        }
        Value::Map(m) => {
            let h = m
                .iter()
                .fold(tagged(8), |h, (k, v)| value_hash(v, xxh3_64_with_seed(k.as_bytes(), h)));
            xxh3_64_with_seed(&(m.len() as u64).to_le_bytes(), h)
        }
        Value::Native(n) => xxh3_64_with_seed(&n.encode(), tagged(9)),
    }
}

/// The key group of a key hash, in `0..max_parallelism`.
///
/// # Panics
/// If `max_parallelism` is 0.
pub fn key_group(hash: u64, max_parallelism: usize) -> usize {
    (hash % max_parallelism as u64) as usize
}

/// The task index, in `0..parallelism`, that owns `key_group`
/// (Flink's `computeOperatorIndexForKeyGroup`).
///
/// # Panics
/// If `max_parallelism` is 0.
pub fn task_for_key_group(key_group: usize, parallelism: usize, max_parallelism: usize) -> usize {
    key_group * parallelism / max_parallelism
}

/// The key groups owned by task `index` of `parallelism` tasks: the inverse
/// of [`task_for_key_group`].
///
/// # Panics
/// If `parallelism` is 0.
pub fn key_groups_of_task(
    index: usize,
    parallelism: usize,
    max_parallelism: usize,
) -> Range<usize> {
    let start = (index * max_parallelism).div_ceil(parallelism);
    let end = ((index + 1) * max_parallelism).div_ceil(parallelism);
    start..end.min(max_parallelism)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_invert_assignment_for_every_parallelism() {
        for max in [1, 7, 128, 300] {
            for par in 1..=max.min(130) {
                let mut covered = 0;
                for index in 0..par {
                    let groups = key_groups_of_task(index, par, max);
                    assert_eq!(groups.start, covered, "ranges are contiguous");
                    for kg in groups.clone() {
                        assert_eq!(task_for_key_group(kg, par, max), index, "max {max} par {par}");
                    }
                    covered = groups.end;
                }
                assert_eq!(covered, max, "every key group has a task");
            }
        }
    }

    #[test]
    fn hash_is_stable_across_runs() {
        // Routing must not change between builds or processes, or keyed
        // state would be restored on the wrong task: pinned values.
        let h = key_hash([&Value::from("the")]);
        assert_eq!(h, key_hash([&Value::String("the".to_string())]));
        assert_eq!(h, PINNED_THE, "key hash of \"the\" changed: {h:#x}");
        assert_ne!(h, key_hash([&Value::from("The")]));
        assert_ne!(key_hash([&Value::Int(5)]), key_hash([&Value::Timestamp(5)]));
        assert_eq!(key_hash([&Value::Float(-0.0)]), key_hash([&Value::Float(0.0)]));
        let ab = [Value::from("a"), Value::from("b")];
        let ba = [Value::from("b"), Value::from("a")];
        assert_ne!(key_hash(&ab), key_hash(&ba), "order of key fields matters");
    }

    const PINNED_THE: u64 = 0x4c40_c3eb_05e9_14b2;
}
