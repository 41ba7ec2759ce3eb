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

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

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

/// Where the reader is: between records, inside one (from its `B` line's
/// offset), or skipping the rest of a record already counted as dropped.
enum State {
    Idle,
    Open {
        start: usize,
        id: usize,
        hash: String,
    },
    Skipping,
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

/// Reads a journal's bytes (see the module doc for the format).
pub fn decode(bytes: &[u8]) -> Journal {
    let mut j = Journal::default();
    // Ids seen in two intact records that disagree: neither is trusted.
    let mut conflicted = std::collections::BTreeSet::new();
    let mut state = State::Idle;
    let mut pos = 0;
    while let Some(n) = bytes[pos..].iter().position(|&b| b == b'\n') {
        let line = &bytes[pos..pos + n];
        let next = pos + n + 1;
        let tag = line.get(..2);
        match tag {
            Some(b"B,") => {
                if !matches!(state, State::Idle | State::Skipping) {
                    j.dropped += 1;
                }
                state = match id_and(&line[2..]) {
                    Some((id, hash)) if is_hash(hash) => State::Open {
                        start: pos,
                        id,
                        hash: hash.to_string(),
                    },
                    _ => {
                        j.dropped += 1;
                        State::Skipping
                    }
                };
            }
            Some(b"C,") | Some(b"R,") => {
                if let State::Idle = state {
                    // Content whose `B` line was lost.
                    j.dropped += 1;
                    state = State::Skipping;
                }
            }
            Some(b"E,") => {
                match std::mem::replace(&mut state, State::Idle) {
                    State::Open { start, id, hash } => {
                        match close(&bytes[start..pos], id, hash, &line[2..]) {
                            Some(_) if conflicted.contains(&id) => j.dropped += 1,
                            Some(e) => match j.entries.get(&id) {
                                // A record written twice is harmless.
                                Some(old) if *old == e => {}
                                Some(_) => {
                                    j.entries.remove(&id);
                                    conflicted.insert(id);
                                    j.dropped += 2;
                                }
                                None => {
                                    j.entries.insert(id, e);
                                }
                            },
                            None => j.dropped += 1,
                        }
                    }
                    State::Idle => j.dropped += 1,
                    State::Skipping => {}
                }
            }
            _ => {
                if !matches!(state, State::Skipping) {
                    j.dropped += 1;
                    state = State::Skipping;
                }
            }
        }
        pos = next;
    }
    // A record still open, or a torn line after the last newline, was cut short.
    if matches!(state, State::Open { .. }) || matches!(state, State::Idle) && pos < bytes.len() {
        j.dropped += 1;
    }
    j
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
}
