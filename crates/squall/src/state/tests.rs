//! Property tests of keyed state: key groups, snapshot/restore, rescaling.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::keys::{key_group, key_groups_of_task, key_hash, task_for_key_group};
use crate::model::{Fields, Tuple, TupleSource, Value};
use crate::topology::context::TopologyInfo;
use crate::topology::{TopologyConfig, TopologyContext};

/// One task's state, with a way to set the current key to a word.
struct Task {
    state: TaskState,
    ctx: TopologyContext,
    selector: KeySelector,
    source: Arc<TupleSource>,
}

/// The backends of this build: memory, and rocksdb with its feature.
fn kinds() -> Vec<StateBackendKind> {
    [StateBackendKind::Memory, StateBackendKind::Rocksdb]
        .into_iter()
        .filter(|k| k.available())
        .collect()
}

impl Task {
    fn new(index: usize, parallelism: usize, max: usize) -> Task {
        Task::with(StateBackendKind::Memory, index, parallelism, max)
    }

    fn with(kind: StateBackendKind, index: usize, parallelism: usize, max: usize) -> Task {
        let groups = key_groups_of_task(index, parallelism, max);
        let state = TaskState::new(kind.create(groups).unwrap(), max);
        let info = Arc::new(TopologyInfo {
            name: "t".into(),
            config: TopologyConfig::default(),
            tasks: [("count".to_string(), 0..parallelism)].into(),
            metrics: Arc::default(),
        });
        let ctx = TopologyContext::new(info, "count".into(), index, state.clone());
        let fields = Fields::new(["word", "n"]);
        let selector =
            KeySelector::new(vec![("split".into(), "default".into(), Fields::new(["word"]))]);
        let source = Arc::new(TupleSource {
            component: "split".into(),
            stream: "default".into(),
            task: 0,
            fields,
        });
        Task { state, ctx, selector, source }
    }

    fn key(&mut self, word: &str) {
        let tuple = Tuple::new(self.source.clone(), vec![Value::from(word), Value::Int(0)]);
        self.state.set_current_key(&mut self.selector, &tuple).unwrap();
    }

    fn snapshot(&self, index: usize, parallelism: usize) -> TaskSnapshot {
        self.state.snapshot("count", index, parallelism, true).unwrap()
    }
}

fn owner(word: &str, parallelism: usize, max: usize) -> usize {
    let kg = key_group(key_hash([&Value::from(word)]), max);
    task_for_key_group(kg, parallelism, max)
}

/// Writes `counts` (and a map entry and list per word) into tasks of
/// `parallelism`, each word on its owner.
fn fill(
    kind: StateBackendKind,
    counts: &BTreeMap<String, i64>,
    parallelism: usize,
    max: usize,
) -> Vec<Task> {
    let mut tasks: Vec<Task> =
        (0..parallelism).map(|i| Task::with(kind, i, parallelism, max)).collect();
    for (word, count) in counts {
        let t = &mut tasks[owner(word, parallelism, max)];
        t.key(word);
        t.ctx.value_state::<i64>("count").unwrap().update(count).unwrap();
        t.ctx
            .map_state::<String, i64>("by-len")
            .unwrap()
            .put(&word.clone(), &(word.len() as i64))
            .unwrap();
        let list = t.ctx.list_state::<i64>("seen").unwrap();
        list.add(*count).unwrap();
        list.add(-count).unwrap();
    }
    tasks
}

/// Restores `snapshots` into tasks of `parallelism`.
fn restore(
    kind: StateBackendKind,
    snapshots: &[TaskSnapshot],
    parallelism: usize,
    max: usize,
) -> Vec<Task> {
    let refs: Vec<&TaskSnapshot> = snapshots.iter().collect();
    (0..parallelism)
        .map(|i| {
            let t = Task::with(kind, i, parallelism, max);
            t.state.restore(7, i, parallelism, &refs).unwrap();
            t
        })
        .collect()
}

/// Reads every word back from its owner and checks all three states.
fn check(
    tasks: &mut [Task],
    counts: &BTreeMap<String, i64>,
    max: usize,
) -> Result<(), TestCaseError> {
    let parallelism = tasks.len();
    let total: usize = tasks.iter().map(|t| t.state.keyed_entries()).sum();
    prop_assert_eq!(total, counts.len() * 3, "one value, one map entry, one list per word");
    for (word, count) in counts {
        let t = &mut tasks[owner(word, parallelism, max)];
        t.key(word);
        prop_assert_eq!(t.ctx.value_state::<i64>("count").unwrap().value().unwrap(), Some(*count));
        let map = t.ctx.map_state::<String, i64>("by-len").unwrap();
        prop_assert_eq!(map.entries().unwrap(), vec![(word.clone(), word.len() as i64)]);
        prop_assert_eq!(
            t.ctx.list_state::<i64>("seen").unwrap().get().unwrap(),
            vec![*count, -count]
        );
    }
    Ok(())
}

fn words() -> impl Strategy<Value = BTreeMap<String, i64>> {
    proptest::collection::btree_map("[a-z]{1,8}", 1i64..1000, 0..150)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every key group has exactly one task for any parallelism up to
    /// max_parallelism, and the task's range contains it.
    #[test]
    fn key_groups_to_tasks_and_back(max in 1usize..=1024, par_seed in any::<usize>(), kg_seed in any::<usize>()) {
        let parallelism = 1 + par_seed % max;
        let kg = kg_seed % max;
        let task = task_for_key_group(kg, parallelism, max);
        prop_assert!(task < parallelism);
        prop_assert!(key_groups_of_task(task, parallelism, max).contains(&kg));
        let covered: usize = (0..parallelism).map(|i| key_groups_of_task(i, parallelism, max).len()).sum();
        prop_assert_eq!(covered, max);
    }

    /// Snapshot, encode, decode and restore at the same parallelism gives
    /// the same state, and the same snapshot again, on every backend (and
    /// from one backend into the other).
    #[test]
    fn snapshot_then_restore_gives_equal_state(counts in words(), parallelism in 1usize..4) {
        let max = 128;
        for from in kinds() {
            let tasks = fill(from, &counts, parallelism, max);
            let snaps: Vec<TaskSnapshot> = tasks
                .iter()
                .enumerate()
                .map(|(i, t)| TaskSnapshot::decode(&t.snapshot(i, parallelism).encode().unwrap()).unwrap())
                .collect();
            for to in kinds() {
                let mut restored = restore(to, &snaps, parallelism, max);
                check(&mut restored, &counts, max)?;
                for (i, t) in restored.iter().enumerate() {
                    let mut again = t.snapshot(i, parallelism);
                    let mut before = snaps[i].clone();
                    for s in [&mut again, &mut before] {
                        for g in &mut s.keyed {
                            g.states.sort_by(|a, b| a.name.cmp(&b.name));
                            for n in &mut g.states { n.entries.sort(); }
                        }
                    }
                    prop_assert_eq!(again, before, "{:?} -> {:?}", from, to);
                }
            }
        }
    }

    /// Rescaling 2 -> 3 -> 1 through snapshots keeps every key and value,
    /// on every backend.
    #[test]
    fn rescaling_2_3_1_keeps_every_key(counts in words()) {
        let max = 128;
        for kind in kinds() {
            let two = fill(kind, &counts, 2, max);
            let snaps: Vec<TaskSnapshot> = two.iter().enumerate().map(|(i, t)| t.snapshot(i, 2)).collect();
            let mut three = restore(kind, &snaps, 3, max);
            check(&mut three, &counts, max)?;
            let snaps: Vec<TaskSnapshot> = three.iter().enumerate().map(|(i, t)| t.snapshot(i, 3)).collect();
            let mut one = restore(kind, &snaps, 1, max);
            check(&mut one, &counts, max)?;
        }
    }
}

#[test]
fn keyed_state_without_a_key_is_an_error_naming_the_state() {
    let t = Task::new(0, 1, 128);
    let err = t.ctx.value_state::<i64>("count").unwrap().value().unwrap_err().to_string();
    assert!(err.contains("'count'") && err.contains("fields grouping"), "{err}");
}

#[test]
fn state_kind_mismatch_is_an_error() {
    let t = Task::new(0, 1, 128);
    t.ctx.value_state::<i64>("s").unwrap();
    let err = t.ctx.map_state::<i64, i64>("s").err().expect("value state asked as map").to_string();
    assert!(err.contains("'s'") && err.contains("Map"), "{err}");
}

#[test]
fn reducing_state_folds_and_operator_state_round_trips() {
    let mut t = Task::new(0, 1, 128);
    let sum = t.ctx.reducing_state::<i64>("sum", |a, b| a + b).unwrap();
    t.key("a");
    assert_eq!(sum.add(3).unwrap(), 3);
    assert_eq!(sum.add(4).unwrap(), 7);
    t.key("b");
    assert_eq!(sum.get().unwrap(), None);
    let offsets = t.ctx.operator_state::<Vec<u64>>("offsets");
    offsets.set(&vec![1, 2]).unwrap();
    let snap = t.snapshot(0, 1);
    let r = restore(StateBackendKind::Memory, &[snap], 1, 128);
    assert_eq!(r[0].ctx.operator_state::<Vec<u64>>("offsets").get().unwrap(), Some(vec![1, 2]));
    assert_eq!(r[0].state.restored_from(), Some(7));
}
