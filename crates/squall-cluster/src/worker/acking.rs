//! The control connections of an `at_least_once` topology spread over
//! several workers: every acker runs in the worker that holds task 0
//! ([`squall::runtime::PartAckers`]); each other worker sends it its tasks'
//! acker messages and gets back the verdicts for its spout tasks, over
//! [`crate::protocol::wire`]'s frames. Each direction ends with an explicit
//! [`Control::Done`], so that a connection that merely closes is a lost
//! worker, not the end of the run.

use std::collections::HashMap;
use std::net::SocketAddr;

use futures_util::stream::{self, SelectAll, StreamExt};
use serde::{Deserialize, Serialize};
use squall::runtime::{AckerOutbox, AckerTraffic, PartAckers};
use tokio::net::TcpListener;

use crate::worker::link::Link;
use crate::{Error, Result};

/// One frame of an acking control connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Control {
    /// Acker messages (to the ackers' worker) or a verdict (from it).
    Traffic(AckerTraffic),
    /// Nothing more follows: the sender's tasks have all stopped (or, from
    /// the ackers' worker, the receiver's have).
    Done,
}

/// The traffic of every outbox, merged; ends when they all have.
fn merged(outboxes: Vec<AckerOutbox>) -> SelectAll<stream::BoxStream<'static, AckerTraffic>> {
    stream::select_all(
        outboxes.into_iter().map(|o| {
            stream::unfold(o, |mut o| async move { o.recv().await.map(|t| (t, o)) }).boxed()
        }),
    )
}

/// The ackers' worker: runs the ackers, takes every other worker's acker
/// messages, and sends each its spouts' verdicts, until every other worker
/// said [`Control::Done`] and the local tasks stopped. `followers` gives
/// each other worker's control address and tasks.
///
/// # Errors
/// [`Error::Attempt`] when a worker's connection closes before its `Done`;
/// [`Error::Io`], [`Error::Wire`] when one cannot be made or read.
pub async fn lead(
    ackers: PartAckers,
    control: TcpListener,
    followers: Vec<(SocketAddr, Vec<usize>)>,
    link: Link,
) -> Result<()> {
    let (run, inbox, outboxes) = ackers.split();
    let mut route: HashMap<usize, usize> = HashMap::new();
    let mut by_first: HashMap<u64, usize> = HashMap::new();
    for (i, (_, tasks)) in followers.iter().enumerate() {
        route.extend(tasks.iter().map(|&t| (t, i)));
        by_first.insert(tasks.iter().copied().min().unwrap_or(0) as u64, i);
    }
    let addrs: Vec<SocketAddr> = followers.iter().map(|(addr, _)| *addr).collect();
    let (downs, accepted) = link.hub::<Control, Control>(&control, &addrs).await?;
    let mut downs: Vec<_> = downs.into_iter().map(Some).collect();
    let mut ups = SelectAll::new();
    for (hello, rx, reader) in accepted {
        let unknown = || Error::Attempt("a control connection from an unknown worker".into());
        let i = *by_first.get(&hello.producer).ok_or_else(unknown)?;
        // Each follower's frames, then `None` once its connection closed.
        let frames = stream::unfold(Some((rx, reader)), move |state| async move {
            let (mut rx, reader) = state?;
            match rx.recv().await {
                Some(c) => Some(((i, Some(c)), Some((rx, reader)))),
                None => {
                    let _ = reader.await;
                    Some(((i, None), None))
                }
            }
        });
        ups.push(frames.boxed());
    }
    let mut verdicts = merged(outboxes);
    let closed = |_| Error::Attempt("a worker's control connection closed".into());
    let looped = async move {
        let mut open = followers.len();
        let mut done = vec![false; followers.len()];
        while open > 0 {
            tokio::select! {
                Some((i, frame)) = ups.next() => match frame {
                    Some(Control::Traffic(t)) => { inbox.deliver(t); }
                    Some(Control::Done) => {
                        done[i] = true;
                        open -= 1;
                        if let Some((tx, writer)) = downs[i].take() {
                            tx.send(Control::Done).await.map_err(closed)?;
                            drop(tx);
                            writer.await??;
                        }
                    }
                    None if done[i] => {}
                    None => return Err(Error::Attempt(format!("worker of task {} closed its control connection before its end", followers[i].1[0]))),
                },
                Some(verdict) = verdicts.next() => {
                    let target = verdict.spout_task().and_then(|t| route.get(&t)).copied();
                    if let Some(Some((tx, _))) = target.map(|i| &downs[i]) {
                        tx.send(Control::Traffic(verdict)).await.map_err(closed)?;
                    }
                }
            }
        }
        drop(inbox);
        Ok::<(), Error>(())
    };
    let (looped, ()) = tokio::join!(looped, run);
    looped
}

/// Any other worker: sends its tasks' acker messages to the ackers' worker
/// at `leader` and delivers the verdicts it sends back, until both sides
/// said [`Control::Done`].
///
/// # Errors
/// [`Error::Attempt`] when the connection closes before the leader's
/// `Done`; [`Error::Io`], [`Error::Wire`] when it cannot be made or read.
pub async fn follow(
    ackers: PartAckers,
    control: TcpListener,
    leader: SocketAddr,
    first_task: usize,
    link: Link,
) -> Result<()> {
    let (_, inbox, outboxes) = ackers.split();
    let ((up, writer), (_, mut down, reader)) =
        link.spoke::<Control, Control>(&control, leader, first_task).await?;
    let gone = "the ackers' worker closed its control connection";
    let send_up = async move {
        let mut traffic = merged(outboxes);
        let closed = |_| Error::Attempt(gone.into());
        while let Some(t) = traffic.next().await {
            up.send(Control::Traffic(t)).await.map_err(closed)?;
        }
        up.send(Control::Done).await.map_err(closed)?;
        drop(up);
        writer.await?
    };
    let take_down = async move {
        while let Some(frame) = down.recv().await {
            match frame {
                Control::Traffic(t) => {
                    inbox.deliver(t);
                }
                Control::Done => return Ok(()),
            }
        }
        reader.await??;
        Err(Error::Attempt(format!("{gone} before its end")))
    };
    tokio::try_join!(send_up, take_down).map(drop)
}
