//! A sweep's journal: one checksummed record per finished run, appended as
//! the run completes, so that a killed sweep resumes without redoing it.
//!
//! A record is a run of lines, written by one `write` call:
//!
//! ```text
//! B,<run id>,<config hash>
//! C,<curves.csv line>          (one per recorded epoch; none without curves)
//! R,<runs.csv line>
//! E,<run id>,<crc>
//! ```
//!
//! `<config hash>` is [`config_hash`] of the run's resolved config and
//! `<crc>` the CRC-32 (IEEE, as `crc32fast` and zlib compute it; 8 lowercase
//! hex digits) of the record's bytes from `B` through the newline of its `R`
//! line. Reading never trusts a record the checksum does not vouch for: a
//! record that fails it, is cut short, or is broken up by foreign lines is
//! dropped (and its run redone); bytes that are not UTF-8 only drop the
//! records they touch.
//!
//! A sweep never holds its journal in memory: [`Index::scan`] streams it
//! once, keeping only where each intact record starts, and each record is
//! read back from there ([`Reader::record_at`]) when it is needed, so a
//! sweep's memory stays flat however many runs it has.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek};

/// The SHA-256 of a run's resolved config (the `config.toml` that
/// `dpo-lab run` writes for it), as 64 lowercase hex digits: what a sweep's
/// journal and `runs.csv` identify the run's config by. `sha256sum
/// config.toml` prints the same digits.
pub fn config_hash(resolved_toml: &str) -> String {
    Sha256::digest(resolved_toml.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One finished run as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The run's id in the sweep's grid.
    pub id: usize,
    /// [`config_hash`] of the run's resolved config.
    pub config_hash: String,
    /// The run's `runs.csv` line, without its line terminator.
    pub runs_line: String,
    /// The run's `curves.csv` lines, each ending in `\n` (empty without curves).
    pub curves: String,
}

/// The record of `e`, ready to append (it ends in a newline).
pub fn encode(e: &Entry) -> String {
    let mut s = format!("B,{},{}\n", e.id, e.config_hash);
    for l in e.curves.lines() {
        s.push_str("C,");
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("R,");
    s.push_str(&e.runs_line);
    s.push('\n');
    let crc = crc32fast::hash(s.as_bytes());
    s.push_str(&format!("E,{},{crc:08x}\n", e.id));
    s
}

/// What a journal's bytes hold: the runs whose records are intact, and how
/// many records were dropped (damaged, cut short, or conflicting duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// The intact records, by run id.
    pub entries: BTreeMap<usize, Entry>,
    /// How many records were dropped; their runs are missing from `entries`.
    pub dropped: usize,
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses `<id>,<tail>` where the id is plain decimal (no sign, no leading
/// zeros but `0`), so that a record has exactly one spelling.
fn id_and(rest: &[u8]) -> Option<(usize, &str)> {
    let s = std::str::from_utf8(rest).ok()?;
    let (id, tail) = s.split_once(',')?;
    if id.is_empty()
        || !id.bytes().all(|b| b.is_ascii_digit())
        || id.len() > 1 && id.starts_with('0')
    {
        return None;
    }
    Some((id.parse().ok()?, tail))
}

/// Reads a journal's bytes (see the module doc for the format), all in
/// memory: for small journals and tests. Sweeps read theirs through an
/// [`Index`], which holds where each record starts rather than the records.
pub fn decode(bytes: &[u8]) -> Journal {
    let mut src = Reader::new(std::io::Cursor::new(bytes));
    let mut index = Index::new(0, 1, 0);
    // A cursor over memory neither fails to read nor to seek within its bytes.
    let read = index.scan(&mut src).and_then(|()| {
        index
            .iter()
            .map(|(id, at)| Ok((id, src.record_at(at)?)))
            .collect::<std::io::Result<Vec<_>>>()
    });
    let entries = read
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(id, e)| Some((id, e?)))
        .collect();
    Journal {
        entries,
        dropped: index.dropped,
    }
}

/// A journal read line by line, knowing the byte offset it is at, so that
/// records can be indexed by where they start and read back from there.
pub struct Reader<R> {
    rd: BufReader<R>,
    pos: u64,
    line: Vec<u8>,
    body: Vec<u8>,
}

impl<R: Read + Seek> Reader<R> {
    /// Reads `r`, which must stand at its start (a file just opened).
    pub fn new(r: R) -> Self {
        Reader {
            rd: BufReader::with_capacity(1 << 16, r),
            pos: 0,
            line: Vec::new(),
            body: Vec::new(),
        }
    }

    /// How many bytes the reader has gone through (after [`Index::scan`],
    /// the length of the journal it read).
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Reads the next line (with its newline, if it has one) into `line`;
    /// `false` at the end.
    fn next_line(&mut self) -> std::io::Result<bool> {
        self.line.clear();
        let n = self.rd.read_until(b'\n', &mut self.line)?;
        self.pos += n as u64;
        Ok(n > 0)
    }

    /// Moves to byte `to`, keeping what is buffered when `to` lies in it
    /// (records read in about the order they were written cost no reads).
    fn seek(&mut self, to: u64) -> std::io::Result<()> {
        if to != self.pos {
            let delta = i64::try_from(to)
                .ok()
                .zip(i64::try_from(self.pos).ok())
                .map(|(a, b)| a - b)
                .ok_or_else(|| std::io::Error::other("journal offset out of range"))?;
            self.rd.seek_relative(delta)?;
            self.pos = to;
        }
        Ok(())
    }

    /// The record that starts at byte `offset`, if an intact one does (one
    /// that [`Index::scan`] indexed there, unless the file has changed since).
    pub fn record_at(&mut self, offset: u64) -> std::io::Result<Option<Entry>> {
        self.seek(offset)?;
        if !self.next_line()? || self.line.last() != Some(&b'\n') {
            return Ok(None);
        }
        let head = match self.line.strip_prefix(b"B,") {
            Some(rest) => id_and(&rest[..rest.len() - 1]),
            None => None,
        };
        let Some((id, hash)) = head.filter(|(_, h)| is_hash(h)) else {
            return Ok(None);
        };
        let hash = hash.to_string();
        self.body.clear();
        self.body.extend_from_slice(&self.line);
        loop {
            if !self.next_line()? || self.line.last() != Some(&b'\n') {
                return Ok(None);
            }
            match self.line.get(..2) {
                Some(b"C,") | Some(b"R,") => self.body.extend_from_slice(&self.line),
                Some(b"E,") => {
                    let rest = &self.line[2..self.line.len() - 1];
                    return Ok(close(&self.body, id, hash, rest));
                }
                _ => return Ok(None),
            }
        }
    }
}

/// Where each intact record of a journal starts, by run id: what a sweep
/// keeps of its journal instead of the records, 8 bytes per run of the grid
/// slice it was made for, so that its memory does not grow with the records.
#[derive(Debug, Clone)]
pub struct Index {
    /// The first run of the slice the slots cover.
    first: usize,
    /// The distance between the slice's runs (a sweep's shard count).
    stride: usize,
    /// Run `first + k * stride` at `slots[k]`: [`NONE`], [`CONFLICT`], or
    /// its record's offset plus one.
    slots: Vec<u64>,
    /// Runs outside the slice, as in `slots` (only a journal that does not
    /// belong to the sweep has them, so they stay few until it is refused).
    other: BTreeMap<usize, u64>,
    /// How many runs have an intact record.
    runs: usize,
    /// How many records were dropped (damaged, cut short, or conflicting
    /// duplicates); their runs are missing from the index.
    pub dropped: usize,
}

/// A slot of a run with no record.
const NONE: u64 = 0;
/// A slot of a run with two intact records that disagree: neither is
/// trusted, and any later record of the run is dropped too.
const CONFLICT: u64 = u64::MAX;

/// Where the scan is: between records, inside one (from its `B` line's
/// offset), or skipping the rest of a record already counted as dropped.
enum State {
    Idle,
    Open { start: u64, id: usize, hash: String },
    Skipping,
}

impl Index {
    /// An empty index with slots for runs `first`, `first + stride`, ...
    /// below `n` (a shard's runs); records of other runs are kept aside.
    pub fn new(first: usize, stride: usize, n: usize) -> Self {
        let stride = stride.max(1);
        let len = n.saturating_sub(first).div_ceil(stride);
        Index {
            first,
            stride,
            slots: vec![NONE; len],
            other: BTreeMap::new(),
            runs: 0,
            dropped: 0,
        }
    }

    /// The slot index of run `id`, if the slots cover it.
    fn at(&self, id: usize) -> Option<usize> {
        let k = id.checked_sub(self.first)?;
        (k % self.stride == 0 && k / self.stride < self.slots.len()).then_some(k / self.stride)
    }

    fn get(&self, id: usize) -> u64 {
        match self.at(id) {
            Some(k) => self.slots[k],
            None => self.other.get(&id).copied().unwrap_or(NONE),
        }
    }

    fn set(&mut self, id: usize, v: u64) {
        match self.at(id) {
            Some(k) => self.slots[k] = v,
            None => {
                self.other.insert(id, v);
            }
        }
    }

    /// How many runs have an intact record.
    pub fn len(&self) -> usize {
        self.runs
    }

    /// Whether no run has an intact record.
    pub fn is_empty(&self) -> bool {
        self.runs == 0
    }

    /// Whether run `id` has an intact record.
    pub fn contains(&self, id: usize) -> bool {
        !matches!(self.get(id), NONE | CONFLICT)
    }

    /// Records that run `id`'s record starts at `offset`, unless the index
    /// has one for it already (then `false`): for an index of several
    /// journals laid end to end, whose records a caller has checked.
    pub fn insert(&mut self, id: usize, offset: u64) -> bool {
        if self.get(id) != NONE {
            return false;
        }
        self.set(id, offset + 1);
        self.runs += 1;
        true
    }

    /// The runs with an intact record and where each record starts, in run
    /// id order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let slots = self
            .slots
            .iter()
            .enumerate()
            .map(|(k, &v)| (self.first + k * self.stride, v));
        let other = self.other.iter().map(|(&id, &v)| (id, v));
        Merged {
            a: slots.peekable(),
            b: other.peekable(),
        }
        .filter(|&(_, v)| !matches!(v, NONE | CONFLICT))
        .map(|(id, v)| (id, v - 1))
    }

    /// Reads the journal in `src` from its start (see the module doc for the
    /// format), indexing its intact records; a record seen twice is compared
    /// with the first by reading that back.
    pub fn scan<R: Read + Seek>(&mut self, src: &mut Reader<R>) -> std::io::Result<()> {
        src.seek(0)?;
        let mut state = State::Idle;
        let mut torn = false;
        loop {
            let start = src.pos;
            if !src.next_line()? {
                break;
            }
            if src.line.last() != Some(&b'\n') {
                torn = true;
                break;
            }
            let line = &src.line[..src.line.len() - 1];
            match line.get(..2) {
                Some(b"B,") => {
                    if let State::Open { .. } = state {
                        self.dropped += 1;
                    }
                    state = match id_and(&line[2..]) {
                        Some((id, hash)) if is_hash(hash) => {
                            let hash = hash.to_string();
                            src.body.clear();
                            src.body.extend_from_slice(&src.line);
                            State::Open { start, id, hash }
                        }
                        _ => {
                            self.dropped += 1;
                            State::Skipping
                        }
                    };
                }
                Some(b"C,") | Some(b"R,") => match state {
                    // Content whose `B` line was lost.
                    State::Idle => {
                        self.dropped += 1;
                        state = State::Skipping;
                    }
                    State::Open { .. } => src.body.extend_from_slice(&src.line),
                    State::Skipping => {}
                },
                Some(b"E,") => match std::mem::replace(&mut state, State::Idle) {
                    State::Open { start, id, hash } => {
                        match close(&src.body, id, hash, &line[2..]) {
                            Some(e) => {
                                let here = src.pos;
                                self.add(start, &e, src)?;
                                src.seek(here)?;
                            }
                            None => self.dropped += 1,
                        }
                    }
                    State::Idle => self.dropped += 1,
                    State::Skipping => {}
                },
                _ => {
                    if !matches!(state, State::Skipping) {
                        self.dropped += 1;
                        state = State::Skipping;
                    }
                }
            }
        }
        // A record still open, or a torn line after the last newline, was cut short.
        if matches!(state, State::Open { .. }) || matches!(state, State::Idle) && torn {
            self.dropped += 1;
        }
        Ok(())
    }

    /// Indexes the intact record `e` found at `offset` of `src`.
    fn add<R: Read + Seek>(
        &mut self,
        offset: u64,
        e: &Entry,
        src: &mut Reader<R>,
    ) -> std::io::Result<()> {
        match self.get(e.id) {
            CONFLICT => self.dropped += 1,
            NONE => {
                self.set(e.id, offset + 1);
                self.runs += 1;
            }
            // A record written twice is harmless; two that disagree are
            // both dropped.
            old => {
                if src.record_at(old - 1)?.as_ref() != Some(e) {
                    self.set(e.id, CONFLICT);
                    self.runs -= 1;
                    self.dropped += 2;
                }
            }
        }
        Ok(())
    }
}

/// Two id-ordered iterators merged in id order (the index's slots and the
/// runs kept aside; no id is in both).
struct Merged<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (usize, u64)>,
    B: Iterator<Item = (usize, u64)>,
{
    type Item = (usize, u64);

    fn next(&mut self) -> Option<(usize, u64)> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.0 < x.0 => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// The entry of record `body` (its bytes from `B` through the `R` line's
/// newline) if its `E` line (`rest`, after `E,`) names the same id and the
/// right checksum, and the body is well formed.
fn close(body: &[u8], id: usize, hash: String, rest: &[u8]) -> Option<Entry> {
    let (eid, crc) = id_and(rest)?;
    if eid != id || crc.len() != 8 || u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(body) {
        return None;
    }
    if !crc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut lines = text.lines().skip(1);
    let mut curves = String::new();
    let mut runs_line = None;
    for l in lines.by_ref() {
        if let Some(c) = l.strip_prefix("C,") {
            if runs_line.is_some() {
                return None;
            }
            curves.push_str(c);
            curves.push('\n');
        } else if let Some(r) = l.strip_prefix("R,") {
            if runs_line.is_some() {
                return None;
            }
            runs_line = Some(r.to_string());
        } else {
            return None;
        }
    }
    Some(Entry {
        id,
        config_hash: hash,
        runs_line: runs_line?,
        curves,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: usize, curves: usize) -> Entry {
        Entry {
            id,
            config_hash: config_hash(&format!("seed = {id}\n")),
            runs_line: format!("{id},0.1,0,{}", 1000 + id),
            curves: (0..curves).map(|k| format!("{id},{k},2.5\n")).collect(),
        }
    }

    fn journal(entries: &[Entry]) -> Vec<u8> {
        entries.iter().map(encode).collect::<String>().into_bytes()
    }

    #[test]
    fn the_config_hash_is_sha256() {
        // The SHA-256 test vector of "abc" (FIPS 180-2).
        assert_eq!(
            config_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn intact_records_read_back() {
        let es: Vec<Entry> = (0..4).map(|i| entry(i, i)).collect();
        let j = decode(&journal(&es));
        assert_eq!(j.dropped, 0);
        assert_eq!(j.entries.values().cloned().collect::<Vec<_>>(), es);
    }

    #[test]
    fn any_flipped_byte_drops_exactly_its_record() {
        let es: Vec<Entry> = (0..3).map(|i| entry(i, 2)).collect();
        let bytes = journal(&es);
        let first = encode(&es[0]).len();
        let second = first + encode(&es[1]).len();
        for at in first..second {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] ^= flip;
                let j = decode(&b);
                let ids: Vec<usize> = j.entries.keys().copied().collect();
                // Damaging the last newline joins the next record's first line
                // to this one's last, so that record goes too (and is redone).
                let want: &[usize] = if at == second - 1 { &[0] } else { &[0, 2] };
                assert_eq!(ids, want, "byte {at} ^ {flip:#x}");
                assert!(j.dropped >= 1, "byte {at} ^ {flip:#x}");
            }
        }
    }

    #[test]
    fn torn_duplicated_and_garbage_records() {
        let es: Vec<Entry> = (0..3).map(|i| entry(i, 1)).collect();
        let mut b = journal(&es);
        // A torn tail: half of another record.
        let torn = encode(&entry(3, 1));
        b.extend_from_slice(&torn.as_bytes()[..torn.len() / 2]);
        let j = decode(&b);
        assert_eq!((j.entries.len(), j.dropped), (3, 1));
        // A duplicated record is kept once; a garbage line drops nothing intact.
        let mut b = journal(&[es[0].clone(), es[1].clone(), es[1].clone()]);
        b.extend_from_slice(b"\xff\xfegarbage\n");
        b.extend_from_slice(encode(&es[2]).as_bytes());
        let j = decode(&b);
        assert_eq!((j.entries.len(), j.dropped), (3, 1));
        // Two intact records of one run that disagree: neither is trusted.
        let mut other = es[1].clone();
        other.runs_line.push('9');
        let j = decode(&journal(&[es[0].clone(), es[1].clone(), other]));
        assert_eq!(j.entries.keys().copied().collect::<Vec<_>>(), [0]);
        assert_eq!(j.dropped, 2);
    }

    /// What an index of `bytes` with slots for runs `first`, `first +
    /// stride`, ... below `n` reads: its entries (each read back from where
    /// the index says it starts) and its dropped count.
    fn indexed(bytes: &[u8], first: usize, stride: usize, n: usize) -> Journal {
        let mut src = Reader::new(std::io::Cursor::new(bytes));
        let mut index = Index::new(first, stride, n);
        index.scan(&mut src).unwrap();
        let entries: BTreeMap<usize, Entry> = index
            .iter()
            .map(|(id, at)| (id, src.record_at(at).unwrap().unwrap()))
            .collect();
        assert_eq!(entries.len(), index.len());
        for id in 0..n + 2 {
            assert_eq!(index.contains(id), entries.contains_key(&id), "run {id}");
        }
        Journal {
            entries,
            dropped: index.dropped,
        }
    }

    #[test]
    fn every_index_layout_reads_as_decode() {
        let es: Vec<Entry> = (0..6).map(|i| entry(i, i % 3)).collect();
        let mut other = es[4].clone();
        other.runs_line.push('9');
        let torn = encode(&es[5]);
        let mut damaged = journal(&[es[3].clone(), es[0].clone(), es[4].clone()]);
        damaged.extend_from_slice(b"garbage\n");
        damaged.extend(journal(&[
            es[1].clone(),
            es[0].clone(),
            other,
            es[2].clone(),
        ]));
        damaged.extend_from_slice(&torn.as_bytes()[..torn.len() / 2]);
        for bytes in [journal(&es), damaged] {
            let want = decode(&bytes);
            // Slots for every run, for a shard's runs, for too few, for none.
            for (first, stride, n) in [(0, 1, 6), (1, 2, 6), (0, 3, 4), (2, 1, 3), (0, 1, 0)] {
                let got = indexed(&bytes, first, stride, n);
                assert_eq!(got, want, "slots {first}, {stride}, {n}");
            }
        }
        let j = decode(&journal(&es));
        assert_eq!((j.entries.len(), j.dropped), (6, 0));
    }

    #[test]
    fn an_index_takes_each_run_once() {
        let mut index = Index::new(0, 1, 4);
        assert!(index.insert(2, 10));
        assert!(!index.insert(2, 20));
        assert!(index.insert(9, 0));
        assert_eq!(index.iter().collect::<Vec<_>>(), [(2, 10), (9, 0)]);
        assert_eq!(index.len(), 2);
    }
}
