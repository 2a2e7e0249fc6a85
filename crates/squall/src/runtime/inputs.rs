//! [`InputSet`]: the input channels of one task, read fairly.
//!
//! A task has one channel per upstream task (not one shared channel), so
//! that a later barrier alignment can hold back a single input.

use std::future::poll_fn;
use std::task::Poll;

use tokio::sync::mpsc::Receiver;

use crate::runtime::message::{Batch, Message};

/// What [`InputSet::recv`] found.
pub(crate) enum Received {
    /// Tuples from one of the inputs.
    Data(Batch),
    /// Every input sent `End`: the task may finish.
    AllEnded,
    /// An input's channel closed without `End`: its producer stopped
    /// (killed or failed). The task must stop too, without finishing, so
    /// that no sink commits a result made of partial input.
    Disconnected,
}

pub(crate) struct InputSet {
    receivers: Vec<Receiver<Message>>,
    ended: Vec<bool>,
    open: usize,
    next: usize,
}

impl InputSet {
    pub fn new(receivers: Vec<Receiver<Message>>) -> Self {
        let n = receivers.len();
        InputSet { receivers, ended: vec![false; n], open: n, next: 0 }
    }

    /// The next batch from any input, round robin across inputs that have
    /// data; [`Received::AllEnded`] once every input has sent `End`.
    ///
    /// # Cancel safety
    /// Cancel safe: a message is only taken from a channel when this returns
    /// it, as with `Receiver::recv`.
    pub async fn recv(&mut self) -> Received {
        loop {
            if self.open == 0 {
                return Received::AllEnded;
            }
            let (index, msg) = poll_fn(|cx| {
                let n = self.receivers.len();
                for k in 0..n {
                    let i = (self.next + k) % n;
                    if self.ended[i] {
                        continue;
                    }
                    if let Poll::Ready(m) = self.receivers[i].poll_recv(cx) {
                        self.next = (i + 1) % n;
                        return Poll::Ready((i, m));
                    }
                }
                Poll::Pending
            })
            .await;
            match msg {
                Some(Message::End) => {
                    self.ended[index] = true;
                    self.open -= 1;
                }
                Some(Message::Data(batch)) => return Received::Data(batch),
                None => return Received::Disconnected,
            }
        }
    }
}
