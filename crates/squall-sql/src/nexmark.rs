//! The Nexmark generator: an auction site's persons, auctions and bids,
//! following the Beam/Flink Nexmark generator's rules (Beam's
//! `NexmarkGenerator`, `PersonGenerator`, `AuctionGenerator`,
//! `BidGenerator`; Flink's port adds the bids' channel and url).
//!
//! - Event `n` (0, 1, 2, ...) has id `n` (out-of-order groups of 1) and the
//!   time `base_time + n * 1e6 / rate / 1000` ms (`first-event.rate`, events
//!   per second of event time).
//! - Its kind is `id % 50`: 0 a person, 1-3 an auction, 4-49 a bid (the
//!   1 : 3 : 46 mix; other proportions can be set).
//! - Ids, sellers, bidders, auctions of bids, prices, categories, names and
//!   the padding `extra` follow the generator's rules: hot auctions (1 in
//!   `hot_auction_ratio` bids goes elsewhere), hot sellers and bidders,
//!   persons and auctions chosen among the active ones, prices
//!   `round(10^(6u) * 100)`, auctions expiring within twice the horizon of
//!   the next 100 in-flight auctions.
//! - Every event draws its random numbers from its own generator seeded by
//!   (`seed`, id), so an event does not depend on which task makes it or on
//!   the events before it: the stream is the same for a seed at any
//!   parallelism. Beam seeds `java.util.Random` with the event id; Flink's
//!   port draws from one unseeded generator (not repeatable). Beam adds
//!   `FIRST_PERSON_ID` to a bidder once, Flink's port twice; here once.
//!
//! A source task `i` of `p` makes events `i, i + p, i + 2p, ...` (so the
//! tasks' event times advance together and the watermark, the minimum over
//! them, keeps up) and only those of its table's kind.

use std::sync::OnceLock;

/// Settings of the generator (Flink's `nexmark` connector options).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of every event's random numbers (0: the default stream).
    pub seed: u64,
    /// Events per second of event time (`first-event.rate`).
    pub rate: f64,
    /// Time of event 0, ms since the epoch (2015-07-15 00:00:00 UTC).
    pub base_time: i64,
    /// Proportions of persons, auctions and bids (1 : 3 : 46).
    pub person_proportion: u64,
    /// Auctions per `total` events.
    pub auction_proportion: u64,
    /// Bids per `total` events.
    pub bid_proportion: u64,
    /// Active people a new auction or bid picks from (1000).
    pub num_active_people: u64,
    /// Auctions open at once (100).
    pub num_in_flight_auctions: u64,
    /// 1 in this many bids is not for a hot auction (2).
    pub hot_auction_ratio: u64,
    /// 1 in this many auctions is not by a hot seller (4).
    pub hot_sellers_ratio: u64,
    /// 1 in this many bids is not by a hot bidder (4).
    pub hot_bidders_ratio: u64,
    /// Average sizes (bytes) the `extra` field pads to (200, 500, 100).
    pub avg_person_bytes: u64,
    /// As above, auctions.
    pub avg_auction_bytes: u64,
    /// As above, bids.
    pub avg_bid_bytes: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            rate: 10_000.0,
            base_time: 1_436_918_400_000,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            num_active_people: 1000,
            num_in_flight_auctions: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
        }
    }
}

const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_PERSON_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const PERSON_ID_LEAD: u64 = 10;
const AUCTION_ID_LEAD: u64 = 10;
const HOT_SELLER_RATIO: i64 = 100;
const HOT_AUCTION_RATIO: i64 = 100;
const HOT_BIDDER_RATIO: i64 = 100;
const NUM_CATEGORIES: u64 = 5;
const HOT_CHANNELS_RATIO: u64 = 2;
const CHANNELS_NUMBER: usize = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] =
    ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];

/// SplitMix64: small, fast, and good enough for a benchmark's data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        r.next_u64();
        r
    }
    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// Id (from 1000).
    pub id: i64,
    /// "First Last".
    pub name: String,
    /// A made-up address.
    pub email_address: String,
    /// Four groups of four digits.
    pub credit_card: String,
    /// A US city.
    pub city: String,
    /// A US state.
    pub state: String,
    /// Event time (ms).
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// An auction.
#[derive(Debug, Clone, PartialEq)]
pub struct Auction {
    /// Id (from 1000).
    pub id: i64,
    /// Name.
    pub item_name: String,
    /// Description.
    pub description: String,
    /// Opening price.
    pub initial_bid: i64,
    /// Reserve price.
    pub reserve: i64,
    /// Event time (ms).
    pub date_time: i64,
    /// When it closes (ms).
    pub expires: i64,
    /// The seller's person id.
    pub seller: i64,
    /// Category (10-14).
    pub category: i64,
    /// Padding.
    pub extra: String,
}

/// A bid.
#[derive(Debug, Clone, PartialEq)]
pub struct Bid {
    /// The auction's id.
    pub auction: i64,
    /// The bidder's person id.
    pub bidder: i64,
    /// Price (cents).
    pub price: i64,
    /// Where it came from.
    pub channel: String,
    /// Its url.
    pub url: String,
    /// Event time (ms).
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

/// The kind of an event, without making it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Persons.
    Person,
    /// Auctions.
    Auction,
    /// Bids.
    Bid,
}

impl Kind {
    /// The table name's kind (`person`, `auction`, `bid`).
    pub fn of(name: &str) -> Option<Kind> {
        match name.to_ascii_lowercase().as_str() {
            "person" | "persons" | "people" => Some(Kind::Person),
            "auction" | "auctions" => Some(Kind::Auction),
            "bid" | "bids" => Some(Kind::Bid),
            _ => None,
        }
    }

    /// Column names (Flink's nexmark schema) in order.
    pub fn columns(&self) -> &'static [&'static str] {
        match self {
            Kind::Person => {
                &["id", "name", "emailAddress", "creditCard", "city", "state", "dateTime", "extra"]
            }
            Kind::Auction => &[
                "id",
                "itemName",
                "description",
                "initialBid",
                "reserve",
                "dateTime",
                "expires",
                "seller",
                "category",
                "extra",
            ],
            Kind::Bid => &["auction", "bidder", "price", "channel", "url", "dateTime", "extra"],
        }
    }
}

fn reusable_extra() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| {
        let mut r = Rng::new(0x5EED_0001);
        (0..1024 * 1024).map(|_| (b'a' + r.below(26) as u8) as char).collect()
    })
}

fn base_url(r: &mut Rng) -> String {
    format!(
        "https://www.nexmark.com/{}/{}/{}/item.htm?query=1",
        next_string(r, 5, '_'),
        next_string(r, 5, '_'),
        next_string(r, 5, '_')
    )
}

fn hot_urls() -> &'static [String; 4] {
    static S: OnceLock<[String; 4]> = OnceLock::new();
    S.get_or_init(|| {
        let mut r = Rng::new(0x5EED_0002);
        [base_url(&mut r), base_url(&mut r), base_url(&mut r), base_url(&mut r)]
    })
}

fn channel_cache() -> &'static Vec<(String, String)> {
    static S: OnceLock<Vec<(String, String)>> = OnceLock::new();
    S.get_or_init(|| {
        let mut r = Rng::new(0x5EED_0003);
        (0..CHANNELS_NUMBER)
            .map(|i| {
                let mut url = base_url(&mut r);
                if r.below(10) > 0 {
                    url.push_str(&format!(
                        "&channel_id={}",
                        (i as i32).reverse_bits().unsigned_abs()
                    ));
                }
                (format!("channel-{i}"), url)
            })
            .collect()
    })
}

fn next_string(r: &mut Rng, max_len: u64, special: char) -> String {
    let len = 3 + r.below(max_len - 3);
    let mut s = String::with_capacity(len as usize);
    for _ in 0..len {
        if r.below(13) == 0 {
            s.push(special);
        } else {
            s.push((b'a' + r.below(26) as u8) as char);
        }
    }
    s.trim().to_string()
}

fn next_extra(r: &mut Rng, current: u64, avg: u64) -> String {
    if current > avg {
        return String::new();
    }
    let desired = avg - current;
    let delta = (desired as f64 * 0.2).round() as u64;
    let size = desired - delta + if delta == 0 { 0 } else { r.below(2 * delta) };
    let pool = reusable_extra();
    let offset = r.below((pool.len() as u64) - size) as usize;
    pool[offset..offset + size as usize].to_string()
}

fn next_price(r: &mut Rng) -> i64 {
    (10f64.powf(r.unit() * 6.0) * 100.0).round() as i64
}

impl GeneratorConfig {
    fn total(&self) -> u64 {
        self.person_proportion + self.auction_proportion + self.bid_proportion
    }

    /// Event time of event number `n` (ms).
    pub fn timestamp(&self, n: u64) -> i64 {
        let delay_us = 1_000_000.0 / self.rate;
        self.base_time + ((n as f64 * delay_us) as i64) / 1000
    }

    /// The kind of event `n`.
    pub fn kind(&self, n: u64) -> Kind {
        let rem = n % self.total();
        if rem < self.person_proportion {
            Kind::Person
        } else if rem < self.person_proportion + self.auction_proportion {
            Kind::Auction
        } else {
            Kind::Bid
        }
    }

    fn last_base0_person_id(&self, id: u64) -> i64 {
        let epoch = id / self.total();
        let offset = (id % self.total()).min(self.person_proportion - 1);
        (epoch * self.person_proportion + offset) as i64
    }

    fn next_base0_person_id(&self, id: u64, r: &mut Rng) -> i64 {
        let num_people = self.last_base0_person_id(id) as u64 + 1;
        let active = num_people.min(self.num_active_people);
        let n = r.below(active + PERSON_ID_LEAD);
        (num_people - active + n) as i64
    }

    fn last_base0_auction_id(&self, id: u64) -> i64 {
        let mut epoch = (id / self.total()) as i64;
        let mut offset = (id % self.total()) as i64;
        let (pp, ap) = (self.person_proportion as i64, self.auction_proportion as i64);
        if offset < pp {
            epoch -= 1;
            offset = ap - 1;
        } else if offset >= pp + ap {
            offset = ap - 1;
        } else {
            offset -= pp;
        }
        epoch * ap + offset
    }

    fn next_base0_auction_id(&self, id: u64, r: &mut Rng) -> i64 {
        let max = self.last_base0_auction_id(id);
        let min = (max - self.num_in_flight_auctions as i64).max(0);
        min + r.below((max - min + 1) as u64 + AUCTION_ID_LEAD) as i64
    }

    /// Event number `n`.
    pub fn event(&self, n: u64) -> Event {
        match self.kind(n) {
            Kind::Person => Event::Person(self.person(n)),
            Kind::Auction => Event::Auction(self.auction(n)),
            Kind::Bid => Event::Bid(self.bid(n)),
        }
    }

    fn rng(&self, n: u64) -> Rng {
        Rng::new(self.seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ n)
    }

    /// Event `n` as a person (whatever its kind).
    pub fn person(&self, n: u64) -> Person {
        let mut r = self.rng(n);
        let ts = self.timestamp(n);
        let id = self.last_base0_person_id(n) + FIRST_PERSON_ID;
        let name = format!(
            "{} {}",
            FIRST_NAMES[r.below(FIRST_NAMES.len() as u64) as usize],
            LAST_NAMES[r.below(LAST_NAMES.len() as u64) as usize]
        );
        let email = format!("{}@{}.com", next_string(&mut r, 7, ' '), next_string(&mut r, 5, ' '));
        let card = (0..4).map(|_| format!("{:04}", r.below(10_000))).collect::<Vec<_>>().join(" ");
        let city = US_CITIES[r.below(US_CITIES.len() as u64) as usize].to_string();
        let state = US_STATES[r.below(US_STATES.len() as u64) as usize].to_string();
        let size = 8 + name.len() + email.len() + card.len() + city.len() + state.len();
        let extra = next_extra(&mut r, size as u64, self.avg_person_bytes);
        Person {
            id,
            name,
            email_address: email,
            credit_card: card,
            city,
            state,
            date_time: ts,
            extra,
        }
    }

    /// Event `n` as an auction.
    pub fn auction(&self, n: u64) -> Auction {
        let mut r = self.rng(n);
        let ts = self.timestamp(n);
        let id = self.last_base0_auction_id(n) + FIRST_AUCTION_ID;
        let seller = if r.below(self.hot_sellers_ratio) > 0 {
            (self.last_base0_person_id(n) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        } else {
            self.next_base0_person_id(n, &mut r)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES) as i64;
        let initial_bid = next_price(&mut r);
        let events_for_auctions =
            self.num_in_flight_auctions * self.total() / self.auction_proportion;
        let future = self.timestamp(n + events_for_auctions);
        let horizon = future - ts;
        let expires = ts + 1 + r.below((horizon * 2).max(1) as u64) as i64;
        let item_name = next_string(&mut r, 20, ' ');
        let description = next_string(&mut r, 100, ' ');
        let reserve = initial_bid + next_price(&mut r);
        let size = 8 + item_name.len() + description.len() + 40;
        let extra = next_extra(&mut r, size as u64, self.avg_auction_bytes);
        Auction {
            id,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: ts,
            expires,
            seller,
            category,
            extra,
        }
    }

    /// Event `n` as a bid.
    pub fn bid(&self, n: u64) -> Bid {
        let mut r = self.rng(n);
        let ts = self.timestamp(n);
        let auction = if r.below(self.hot_auction_ratio) > 0 {
            (self.last_base0_auction_id(n) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
        } else {
            self.next_base0_auction_id(n, &mut r)
        } + FIRST_AUCTION_ID;
        let bidder = if r.below(self.hot_bidders_ratio) > 0 {
            (self.last_base0_person_id(n) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
        } else {
            self.next_base0_person_id(n, &mut r)
        } + FIRST_PERSON_ID;
        let price = next_price(&mut r);
        let (channel, url) = if r.below(HOT_CHANNELS_RATIO) > 0 {
            let i = r.below(HOT_CHANNELS.len() as u64) as usize;
            (HOT_CHANNELS[i].to_string(), hot_urls()[i].clone())
        } else {
            channel_cache()[r.below(CHANNELS_NUMBER as u64) as usize].clone()
        };
        let extra = next_extra(&mut r, 32, self.avg_bid_bytes);
        Bid { auction, bidder, price, channel, url, date_time: ts, extra }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_and_ids_follow_the_generator() {
        let g = GeneratorConfig::default();
        let kinds: Vec<Kind> = (0..50).map(|n| g.kind(n)).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Person).count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Auction).count(), 3);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Bid).count(), 46);
        assert_eq!(g.person(0).id, 1000);
        assert_eq!(g.person(50).id, 1001);
        assert_eq!(g.auction(1).id, 1000);
        assert_eq!(g.auction(3).id, 1002);
        assert_eq!(g.auction(51).id, 1003);
        assert_eq!(g.timestamp(10_000), g.base_time + 1000);
        // Deterministic per event, whatever came before.
        assert_eq!(g.bid(4242), g.bid(4242));
        let other = GeneratorConfig { seed: 7, ..g.clone() };
        assert_ne!(g.bid(4242), other.bid(4242));
        for n in 0..5000 {
            if let Event::Bid(b) = g.event(n) {
                assert!(b.auction >= 1000 && b.auction <= g.auction(n).id + 10 + 1000);
                assert!(b.price >= 100 && b.price <= 100_000_000);
                assert!(b.bidder >= 1000);
            }
        }
    }
}
