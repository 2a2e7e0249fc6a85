//! The control connections of an `at_least_once` topology spread over
//! several workers: every acker runs in the worker that holds task 0
//! ([`squall::runtime::PartAckers`]); each other worker sends it its tasks'
//! acker messages and gets back the verdicts for its spout tasks, over
//! [`Link::hub`] and [`Link::spoke`]. Each direction ends with an explicit
//! [`Frame::Done`](crate::worker::link::Frame), so that a connection that
//! merely closes is a lost worker, not the end of the run.

use std::collections::HashMap;
use std::future::Future;

use futures_util::stream::{self, SelectAll, StreamExt};
use squall::runtime::{AckerOutbox, AckerTraffic, PartAckers};
use tokio::net::TcpListener;

use crate::protocol::store::Assignment;
use crate::worker::distributed::{first_task, PeerRecord};
use crate::worker::link::Link;
use crate::{Error, Result};

/// The traffic of every outbox, merged; ends when they all have.
fn merged(outboxes: Vec<AckerOutbox>) -> SelectAll<stream::BoxStream<'static, AckerTraffic>> {
    stream::select_all(
        outboxes.into_iter().map(|o| {
            stream::unfold(o, |mut o| async move { o.recv().await.map(|t| (t, o)) }).boxed()
        }),
    )
}

/// This worker's side, `a` with `ackers`, of the ackers' connections on
/// `listener`. The worker of task 0 (whose record is `head`) runs the
/// ackers, takes every other worker's acker messages and sends each its
/// spouts' verdicts, until every one of `followers` said it is done and
/// the local tasks stopped; any other sends its tasks' acker messages to
/// it and delivers the verdicts it sends back, until both sides said they
/// are done.
///
/// # Errors
/// [`Error::Attempt`] when a peer published no acking listener; the
/// future's, as [`Link::hub`] and [`Link::spoke`].
pub fn plane(
    ackers: PartAckers,
    listener: TcpListener,
    a: &Assignment,
    head: &PeerRecord,
    followers: &[&PeerRecord],
    link: Link,
) -> Result<impl Future<Output = Result<()>> + Send> {
    let missing = || Error::Attempt("a worker published no acking listener".into());
    let (hub, first) = (head.acking.ok_or_else(missing)?, first_task(&a.tasks));
    let mut route: HashMap<usize, usize> = HashMap::new();
    let mut firsts = Vec::new();
    for (i, p) in followers.iter().enumerate() {
        route.extend(p.tasks.iter().map(|&t| (t, i)));
        firsts.push((p.acking.ok_or_else(missing)?, first_task(&p.tasks)));
    }
    let a_leads = a.tasks.contains(&0);
    let (run, inbox, outboxes) = ackers.split();
    // The inbox goes with the loop: then the ackers stop.
    let deliver = move |traffic| {
        inbox.deliver(traffic);
    };
    Ok(async move {
        if !a_leads {
            return link.spoke(&listener, hub, first, merged(outboxes), deliver).await;
        }
        let verdicts = merged(outboxes).filter_map(move |verdict| {
            let target = verdict.spout_task().and_then(|t| route.get(&t)).copied();
            std::future::ready(target.map(|i| (Some(i), verdict)))
        });
        let (looped, ()) = tokio::join!(link.hub(&listener, &firsts, verdicts, deliver), run);
        looped
    })
}
