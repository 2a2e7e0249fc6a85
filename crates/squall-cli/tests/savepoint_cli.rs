//! `squall run --savepoint-on-stop` then `--from-savepoint` with another
//! parallelism: the committed output of both runs is the exact count.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn yaml(out: &Path, checkpoints: &Path) -> String {
    format!(
        r#"
name: cli-savepoint
params:
  parallelism: 2
config:
  guarantee: exactly_once
  checkpoint_interval_ms: 100
  checkpoint_dir: "{}"
spouts:
  - id: lines
    type: generator
    settings: {{ limit: 30000, rate_per_sec: 5000, lines: ["to be or not to be", "the rest is silence"] }}
bolts:
  - {{ id: split, type: split_words }}
  - {{ id: count, type: stateful_count, parallelism: "${{parallelism}}" }}
  - {{ id: sink, type: transactional_file, settings: {{ path: "{}" }} }}
streams:
  - {{ from: lines, to: split, grouping: shuffle }}
  - {{ from: split, to: count, grouping: {{ fields: [word] }} }}
  - {{ from: count, to: sink, grouping: shuffle }}
"#,
        checkpoints.display(),
        out.display()
    )
}

#[test]
fn ctrl_c_takes_a_savepoint_and_a_rescaled_run_resumes_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let checkpoints = dir.path().join("checkpoints");
    std::fs::create_dir(&out).unwrap();
    let file = dir.path().join("t.yaml");
    std::fs::write(&file, yaml(&out, &checkpoints)).unwrap();
    let bin = env!("CARGO_BIN_EXE_squall");

    let mut child = Command::new(bin)
        .args(["run", "--quiet", "--savepoint-on-stop", file.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a checkpoint has completed (its metadata exists): the run
    // is then well under way (30 000 lines at 5000/s take 6 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    let topology_dir = checkpoints.join("cli-savepoint");
    loop {
        let done = std::fs::read_dir(&topology_dir)
            .into_iter()
            .flatten()
            .any(|e| e.map(|e| e.path().join("_metadata").is_file()).unwrap_or(false));
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let savepoint = stderr
        .lines()
        .find_map(|l| l.strip_prefix("savepoint: "))
        .unwrap_or_else(|| panic!("no savepoint line in: {stderr}"))
        .to_string();

    let resumed = Command::new(bin)
        .args(["run", "--quiet", "--set", "parallelism=3", "--from-savepoint", &savepoint])
        .arg(&file)
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));

    let mut max: HashMap<String, i64> = HashMap::new();
    let mut rows = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let (w, c) = line.split_once(',').unwrap();
            let c: i64 = c.parse().unwrap();
            let e = max.entry(w.to_string()).or_insert(0);
            *e = (*e).max(c);
            rows += 1;
        }
    }
    // 15 000 of each line: "to" and "be" twice per line, the others once.
    let expected: HashMap<String, i64> = [
        ("to", 30_000),
        ("be", 30_000),
        ("or", 15_000),
        ("not", 15_000),
        ("the", 15_000),
        ("rest", 15_000),
        ("is", 15_000),
        ("silence", 15_000),
    ]
    .into_iter()
    .map(|(w, c)| (w.to_string(), c))
    .collect();
    assert_eq!(max, expected);
    assert_eq!(rows, expected.values().sum::<i64>(), "every count from 1 to its total, once");
}
