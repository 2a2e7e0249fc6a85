//! Writing generated Nexmark events to files (`person`, `auction`, `bid`,
//! CSV without header or JSON lines; times as `YYYY-MM-DD HH:MM:SS.mmm`),
//! for references such as DuckDB to read the very events a query saw.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::batch::format_ts;
use crate::nexmark::{Event, GeneratorConfig, Kind};

/// How many events of each kind were written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Persons.
    pub persons: u64,
    /// Auctions.
    pub auctions: u64,
    /// Bids.
    pub bids: u64,
}

/// Writes events `0..events` of `config` into `dir/{person,auction,bid}.{csv,json}`.
///
/// # Errors
/// I/O errors.
pub fn write_files(
    dir: &Path,
    config: &GeneratorConfig,
    events: u64,
    json: bool,
) -> std::io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let ext = if json { "json" } else { "csv" };
    let open = |name: &str| -> std::io::Result<BufWriter<std::fs::File>> {
        Ok(BufWriter::new(std::fs::File::create(dir.join(format!("{name}.{ext}")))?))
    };
    let (mut p, mut a, mut b) = (open("person")?, open("auction")?, open("bid")?);
    let mut counts = Written::default();
    enum F {
        I(i64),
        S(String),
        T(i64),
    }
    let write =
        |w: &mut BufWriter<std::fs::File>, kind: Kind, fields: Vec<F>| -> std::io::Result<()> {
            if json {
                let mut m = serde_json::Map::new();
                for (name, f) in kind.columns().iter().zip(fields) {
                    let v = match f {
                        F::I(i) => serde_json::Value::from(i),
                        F::S(s) => serde_json::Value::from(s),
                        F::T(t) => serde_json::Value::from(format_ts(t)),
                    };
                    m.insert(name.to_string(), v);
                }
                writeln!(w, "{}", serde_json::Value::Object(m))
            } else {
                let mut c = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
                let rec: Vec<String> = fields
                    .into_iter()
                    .map(|f| match f {
                        F::I(i) => i.to_string(),
                        F::S(s) => s,
                        F::T(t) => format_ts(t),
                    })
                    .collect();
                c.write_record(&rec).map_err(std::io::Error::other)?;
                w.write_all(&c.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?)
            }
        };
    for n in 0..events {
        match config.event(n) {
            Event::Person(x) => {
                counts.persons += 1;
                write(
                    &mut p,
                    Kind::Person,
                    vec![
                        F::I(x.id),
                        F::S(x.name),
                        F::S(x.email_address),
                        F::S(x.credit_card),
                        F::S(x.city),
                        F::S(x.state),
                        F::T(x.date_time),
                        F::S(x.extra),
                    ],
                )?
            }
            Event::Auction(x) => {
                counts.auctions += 1;
                write(
                    &mut a,
                    Kind::Auction,
                    vec![
                        F::I(x.id),
                        F::S(x.item_name),
                        F::S(x.description),
                        F::I(x.initial_bid),
                        F::I(x.reserve),
                        F::T(x.date_time),
                        F::T(x.expires),
                        F::I(x.seller),
                        F::I(x.category),
                        F::S(x.extra),
                    ],
                )?
            }
            Event::Bid(x) => {
                counts.bids += 1;
                write(
                    &mut b,
                    Kind::Bid,
                    vec![
                        F::I(x.auction),
                        F::I(x.bidder),
                        F::I(x.price),
                        F::S(x.channel),
                        F::S(x.url),
                        F::T(x.date_time),
                        F::S(x.extra),
                    ],
                )?
            }
        }
    }
    p.flush()?;
    a.flush()?;
    b.flush()?;
    Ok(counts)
}
