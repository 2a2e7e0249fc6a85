//! The Kafka transaction requests librdkafka does not make for us, over a
//! plain blocking TCP connection with the `kafka-protocol` crate's
//! messages: `FindCoordinator` (of a transactional id), `DescribeTransactions`
//! (a transactional id's producer id, epoch and state) and `EndTxn` (commit
//! or abort a transaction given its transactional id, producer id and
//! epoch: what Flink's `FlinkKafkaInternalProducer` does by reflection to
//! finish a pre-committed transaction after a restart).
//!
//! Owns the wire framing and the error codes that matter here; not the
//! sink's transaction life cycle ([`crate::kafka_sink`]). No TLS or SASL:
//! a cluster that needs them cannot have its transactions resumed (the sink
//! says so when it cannot describe its transactions).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest,
    EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse, ProducerId, RequestHeader,
    ResponseHeader, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

/// `EndTxn` version 3: flexible, and below 5, so the coordinator treats the
/// transaction as transaction version 1 (no epoch bump on its end).
const END_TXN_VERSION: i16 = 3;
/// `FindCoordinator` version 3: one key per request, flexible.
const FIND_COORDINATOR_VERSION: i16 = 3;
/// How long one attempt of a request may take on the socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Kafka error codes this module acts on.
mod code {
    pub const NONE: i16 = 0;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const CONCURRENT_TRANSACTIONS: i16 = 51;
    pub const PRODUCER_FENCED: i16 = 90;
    pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
}

/// What the coordinator knows of a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnState {
    /// The producer id (-1: none yet).
    pub producer_id: i64,
    /// The producer epoch.
    pub epoch: i16,
    /// `Empty`, `Ongoing`, `PrepareCommit`, `PrepareAbort`, `CompleteCommit`,
    /// `CompleteAbort`, `Dead`, `PrepareEpochFence`.
    pub state: String,
}

/// How an [`end_txn`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The coordinator committed (or aborted) it now, or had already with
    /// this same epoch.
    Done,
    /// The producer epoch is stale: a newer epoch of the transactional id
    /// exists, so this transaction was ended before.
    Fenced,
}

/// A failed request: the broker or the message named.
pub(crate) type TxnResult<T> = std::result::Result<T, String>;

/// One request on a fresh connection to `addr`; returns the response body.
fn call<Req: Encodable + HeaderVersion, Resp: Decodable + HeaderVersion>(
    addr: &str,
    key: ApiKey,
    version: i16,
    request: &Req,
) -> TxnResult<Resp> {
    let socket = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&socket, IO_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok();
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_static_str("squall-kafka-sink"));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, Req::header_version(version))
        .and_then(|()| request.encode(&mut body, version))
        .map_err(|e| format!("encoding {key:?}: {e}"))?;
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).map_err(|e| format!("sending {key:?} to {addr}: {e}"))?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).map_err(|e| format!("reading {key:?} from {addr}: {e}"))?;
    let mut response = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    stream.read_exact(&mut response).map_err(|e| format!("reading {key:?} from {addr}: {e}"))?;
    let mut response = Bytes::from(response);
    ResponseHeader::decode(&mut response, Resp::header_version(version))
        .and_then(|_| Resp::decode(&mut response, version))
        .map_err(|e| format!("decoding {key:?} from {addr}: {e}"))
}

/// The `host:port` of the transaction coordinator of `transactional_id`,
/// asked of the first of `brokers` (`host:port,...`) that answers.
fn coordinator(brokers: &str, transactional_id: &str) -> TxnResult<String> {
    let mut request = FindCoordinatorRequest::default();
    request.key = StrBytes::from_string(transactional_id.to_string());
    request.key_type = 1; // a transaction
    let mut errors = Vec::new();
    for broker in brokers.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let response: FindCoordinatorResponse =
            match call(broker, ApiKey::FindCoordinator, FIND_COORDINATOR_VERSION, &request) {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
        if response.error_code != code::NONE {
            errors.push(format!("FindCoordinator: error code {}", response.error_code));
            continue;
        }
        return Ok(format!("{}:{}", response.host.as_str(), response.port));
    }
    Err(format!("no transaction coordinator for {transactional_id}: {}", errors.join("; ")))
}

/// Whether `code` means: ask again shortly (a coordinator moving, loading,
/// or finishing the previous transaction).
fn retriable(code: i16) -> bool {
    matches!(
        code,
        code::COORDINATOR_LOAD_IN_PROGRESS
            | code::COORDINATOR_NOT_AVAILABLE
            | code::NOT_COORDINATOR
            | code::CONCURRENT_TRANSACTIONS
    )
}

/// Runs `attempt` until it gives `Ok(Some(_))` or an error, or `timeout`
/// passes (then the last retriable code is reported), 50 ms apart.
fn retrying<T>(
    what: &str,
    timeout: Duration,
    mut attempt: impl FnMut() -> TxnResult<std::result::Result<T, i16>>,
) -> TxnResult<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match attempt()? {
            Ok(t) => return Ok(t),
            Err(code) if Instant::now() < deadline => {
                tracing::debug!(code, "kafka: {what}: retrying");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(code) => return Err(format!("{what}: error code {code} until the timeout")),
        }
    }
}

/// The coordinator's view of `transactional_id` (`DescribeTransactions`),
/// retrying for up to `timeout` while the coordinator moves or loads;
/// `None` when the id was never used.
///
/// # Errors
/// The broker cannot be reached, does not know the request (tansu), or
/// answers with another error.
pub(crate) fn describe(
    brokers: &str,
    transactional_id: &str,
    timeout: Duration,
) -> TxnResult<Option<TxnState>> {
    let mut request = DescribeTransactionsRequest::default();
    request.transactional_ids =
        vec![TransactionalId(StrBytes::from_string(transactional_id.to_string()))];
    retrying(&format!("DescribeTransactions({transactional_id})"), timeout, || {
        let addr = coordinator(brokers, transactional_id)?;
        let response: DescribeTransactionsResponse =
            call(&addr, ApiKey::DescribeTransactions, 0, &request)?;
        let Some(s) = response.transaction_states.into_iter().next() else {
            return Err("DescribeTransactions: empty answer".into());
        };
        match s.error_code {
            code::NONE => Ok(Ok(Some(TxnState {
                producer_id: s.producer_id.0,
                epoch: s.producer_epoch,
                state: s.transaction_state.as_str().to_string(),
            }))),
            code::TRANSACTIONAL_ID_NOT_FOUND => Ok(Ok(None)),
            c if retriable(c) => Ok(Err(c)),
            c => Err(format!("DescribeTransactions({transactional_id}): error code {c}")),
        }
    })
}

/// Ends the transaction of `transactional_id` run by `producer_id` at
/// `epoch`: commits it when `commit`, else aborts it (`EndTxn`).
/// Idempotent: ending it again with the same epoch answers [`Ended::Done`].
///
/// # Errors
/// The coordinator cannot be reached within `timeout`, or refuses for
/// another reason than a stale epoch (for example `INVALID_TXN_STATE`
/// when the transaction was aborted, by its timeout, before the commit).
pub(crate) fn end_txn(
    brokers: &str,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    timeout: Duration,
) -> TxnResult<Ended> {
    let mut request = EndTxnRequest::default();
    request.transactional_id = TransactionalId(StrBytes::from_string(transactional_id.into()));
    request.producer_id = ProducerId(producer_id);
    request.producer_epoch = epoch;
    request.committed = commit;
    retrying(&format!("EndTxn({transactional_id})"), timeout, || {
        let addr = coordinator(brokers, transactional_id)?;
        let response: EndTxnResponse = call(&addr, ApiKey::EndTxn, END_TXN_VERSION, &request)?;
        match response.error_code {
            code::NONE => Ok(Ok(Ended::Done)),
            code::INVALID_PRODUCER_EPOCH | code::PRODUCER_FENCED => Ok(Ok(Ended::Fenced)),
            c if retriable(c) => Ok(Err(c)),
            c => Err(format!(
                "EndTxn({transactional_id}, producer {producer_id}, epoch {epoch}, commit \
                 {commit}): error code {c}"
            )),
        }
    })
}
