//! The even scheduler (Storm's `EvenScheduler`): a topology's workers go to
//! free slots taken round robin over the supervisors, the one with the most
//! free slots first, so that load spreads over machines before it piles up
//! on one; its tasks are dealt round robin over those workers.

use std::collections::{BTreeMap, BTreeSet};

/// One worker's placement: supervisor, slot, and its global task ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The supervisor's id.
    pub supervisor: String,
    /// The slot on it (0-based).
    pub slot: usize,
    /// Global task ids, ascending.
    pub tasks: Vec<usize>,
}

/// Places `tasks` tasks (ids `0..tasks`) on `workers` workers.
///
/// `supervisors` maps each live supervisor to its slot count; `used` lists
/// the (supervisor, slot) pairs already taken. Returns `None` when fewer than
/// `workers` slots are free (the topology then waits, as in Storm). Fewer
/// workers than asked are used when there are fewer tasks than workers.
pub fn schedule(
    tasks: usize,
    workers: usize,
    supervisors: &BTreeMap<String, usize>,
    used: &BTreeSet<(String, usize)>,
) -> Option<Vec<Placement>> {
    let workers = workers.min(tasks).max(1);
    let mut free: Vec<(String, Vec<usize>)> = supervisors
        .iter()
        .map(|(id, &slots)| {
            let open = (0..slots).filter(|s| !used.contains(&(id.clone(), *s))).collect();
            (id.clone(), open)
        })
        .filter(|(_, open): &(String, Vec<usize>)| !open.is_empty())
        .collect();
    // Most free slots first; ties by id, for a stable answer.
    free.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let mut chosen = Vec::with_capacity(workers);
    let mut round = 0;
    while chosen.len() < workers {
        let before = chosen.len();
        for (id, open) in &free {
            if chosen.len() < workers && round < open.len() {
                chosen.push(Placement {
                    supervisor: id.clone(),
                    slot: open[round],
                    tasks: Vec::new(),
                });
            }
        }
        if chosen.len() == before {
            return None;
        }
        round += 1;
    }
    for task in 0..tasks {
        chosen[task % workers].tasks.push(task);
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sups(list: &[(&str, usize)]) -> BTreeMap<String, usize> {
        list.iter().map(|(id, n)| (id.to_string(), *n)).collect()
    }

    #[test]
    fn workers_spread_over_supervisors_and_tasks_over_workers() {
        let s = sups(&[("a", 2), ("b", 2)]);
        let p = schedule(7, 2, &s, &BTreeSet::new()).unwrap();
        let on: BTreeSet<&str> = p.iter().map(|p| p.supervisor.as_str()).collect();
        assert_eq!(on.len(), 2, "two workers on two machines: {p:?}");
        let mut all: Vec<usize> = p.iter().flat_map(|p| p.tasks.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        let sizes: Vec<usize> = p.iter().map(|p| p.tasks.len()).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
    }

    #[test]
    fn used_slots_are_skipped_and_the_emptier_supervisor_goes_first() {
        let s = sups(&[("a", 2), ("b", 2)]);
        let used: BTreeSet<(String, usize)> = [("a".to_string(), 0)].into();
        let p = schedule(3, 1, &s, &used).unwrap();
        assert_eq!(p, vec![Placement { supervisor: "b".into(), slot: 0, tasks: vec![0, 1, 2] }]);
        let p = schedule(3, 3, &s, &used).unwrap();
        let slots: BTreeSet<(String, usize)> =
            p.iter().map(|p| (p.supervisor.clone(), p.slot)).collect();
        assert_eq!(slots.len(), 3);
        assert!(slots.is_disjoint(&used));
    }

    #[test]
    fn not_enough_free_slots_waits() {
        let s = sups(&[("a", 1)]);
        let used: BTreeSet<(String, usize)> = [("a".to_string(), 0)].into();
        assert_eq!(schedule(4, 1, &s, &used), None);
        assert_eq!(schedule(4, 2, &s, &BTreeSet::new()), None);
        assert_eq!(schedule(4, 1, &BTreeMap::new(), &BTreeSet::new()), None);
    }
}
