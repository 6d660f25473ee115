//! Second pass: lowercasing and Unicode normalisation, streaming over the scanner's events with
//! fixed buffers.
//!
//! What each reference does to a whitespace token, and how it is computed here:
//! - Hugging Face with accent stripping: NFC, `lower()`, NFD, drop Mn. NFC is invisible under the
//!   later NFD, and `lower()` commutes with NFD for every Unicode 14 character (checked by
//!   `tools/gen_unicode_tables.py`'s data, see docs/TOKENIZER.md), so: `lower()`, NFD, drop Mn.
//! - Hugging Face without stripping: NFC, then `lower()` if lowercasing.
//! - Google: no NFC; `lower()`, then NFD and drop Mn when stripping.
//!
//! Canonical reordering and composition need the whole run of combining marks after a starter.
//! The run is buffered up to `SEQ_CAP` characters; a longer run (never seen in real text; UAX #15's
//! stream-safe format allows 30) is normalised in chunks of `SEQ_CAP`.

use super::scan::{Event, Scanner};
use super::unicode::{ccc, class, compose, decompose, lower_into, Class};

pub(crate) const SEQ_CAP: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `lower()` (if configured), NFD, drop Mn.
    Strip,
    /// NFC, then `lower()` (if configured).
    Nfc,
    /// `lower()` (if configured) only.
    Plain,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    c: char,
    ccc: u8,
    start: u32,
    end: u32,
}

impl Entry {
    fn merge_span(&mut self, other: &Entry) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
    }
}

/// A fixed-capacity queue of entries.
#[derive(Clone)]
struct Queue<const N: usize> {
    items: [Entry; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Queue<N> {
    fn new() -> Self {
        Queue {
            items: [Entry::default(); N],
            head: 0,
            len: 0,
        }
    }

    fn pop(&mut self) -> Option<Entry> {
        if self.head == self.len {
            return None;
        }
        let e = *self.items.get(self.head)?;
        self.head += 1;
        if self.head == self.len {
            self.head = 0;
            self.len = 0;
        }
        Some(e)
    }

    fn push(&mut self, e: Entry) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = e;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.head == self.len
    }

    fn live(&mut self) -> &mut [Entry] {
        self.items.get_mut(self.head..self.len).unwrap_or(&mut [])
    }
}

/// One output of the normaliser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Norm {
    Char(char, u32, u32),
    Break,
    Special(u32, u32, u32),
    End,
}

#[derive(Clone)]
pub(crate) struct Normalizer<'t, 'r, 'a> {
    scan: Scanner<'t, 'r, 'a>,
    mode: Mode,
    lower: bool,
    /// The combining sequence being built (Nfc: a starter and its marks; Strip: kept marks).
    seq: Queue<SEQ_CAP>,
    /// Finished characters, returned before anything else.
    ready: Queue<{ SEQ_CAP + 1 }>,
    /// Decomposition of the current input character not yet pushed into `seq`.
    pending: Queue<8>,
    /// A break or special token to return once `ready` is drained.
    held: Option<Norm>,
    /// Second character of a two-character lowercase mapping (U+0130) in Nfc mode.
    extra: Option<(char, u32, u32)>,
}

impl<'t, 'r, 'a> Normalizer<'t, 'r, 'a> {
    pub(crate) fn new(scan: Scanner<'t, 'r, 'a>, mode: Mode, lower: bool) -> Self {
        Normalizer {
            scan,
            mode,
            lower,
            seq: Queue::new(),
            ready: Queue::new(),
            pending: Queue::new(),
            held: None,
            extra: None,
        }
    }

    pub(crate) fn next_norm(&mut self) -> Norm {
        loop {
            if let Some((c, s, e)) = self.extra.take() {
                return Norm::Char(c, s, e);
            }
            if let Some(e) = self.ready.pop() {
                return self.emit(e);
            }
            if let Some(e) = self.pending.pop() {
                self.push(e);
                continue;
            }
            if self.held.is_some() {
                if !self.seq.is_empty() {
                    self.flush_seq();
                    continue;
                }
                if let Some(h) = self.held.take() {
                    return h;
                }
            }
            let (c, s, e) = match self.scan.next_event() {
                Event::Char(c, s, e) => (c, s, e),
                // The whitespace token ends: the buffered sequence is finished first.
                Event::Break => {
                    self.held = Some(Norm::Break);
                    continue;
                }
                Event::Special(id, s, e) => {
                    self.held = Some(Norm::Special(id, s, e));
                    continue;
                }
                Event::End => {
                    self.held = Some(Norm::End);
                    continue;
                }
            };
            if let Some(out) = self.fast_path(c, s, e) {
                return out;
            }
            self.expand(c, s, e);
        }
    }

    /// The ASCII fast path (`Scanner::next_ascii`), taken only when nothing is buffered: an
    /// ASCII byte then needs no normalisation beyond lowercasing.
    #[inline]
    pub(crate) fn next_ascii(&mut self) -> Option<(&'t [u8], u32, Class)> {
        if self.extra.is_some()
            || self.held.is_some()
            || !self.ready.is_empty()
            || !self.pending.is_empty()
            || !self.seq.is_empty()
        {
            return None;
        }
        self.scan.next_ascii(self.mode == Mode::Nfc)
    }

    /// ASCII characters need no buffer when nothing is buffered and (for NFC) nothing after
    /// them can compose with them.
    fn fast_path(&mut self, c: char, s: u32, e: u32) -> Option<Norm> {
        if !c.is_ascii() || !self.seq.is_empty() {
            return None;
        }
        let lower = |c: char| {
            if self.lower {
                c.to_ascii_lowercase()
            } else {
                c
            }
        };
        match self.mode {
            Mode::Strip | Mode::Plain => Some(Norm::Char(lower(c), s, e)),
            Mode::Nfc if self.scan.next_is_plain_ascii() => Some(Norm::Char(lower(c), s, e)),
            Mode::Nfc => None,
        }
    }

    /// Queues what one input character becomes before ordering/composition.
    fn expand(&mut self, c: char, start: u32, end: u32) {
        let pending = &mut self.pending;
        let mut put = |x: char| {
            pending.push(Entry {
                c: x,
                ccc: ccc(x),
                start,
                end,
            });
        };
        match self.mode {
            Mode::Strip => {
                let mut nfd = |x: char| {
                    if class(x) != Class::Mark {
                        put(x)
                    }
                };
                if self.lower {
                    lower_into(c, |l| decompose(l, &mut nfd));
                } else {
                    decompose(c, &mut nfd);
                }
            }
            Mode::Nfc => decompose(c, &mut put),
            Mode::Plain if self.lower => lower_into(c, put),
            Mode::Plain => put(c),
        }
    }

    /// Pushes one decomposed character; only called with `ready` empty.
    fn push(&mut self, e: Entry) {
        match self.mode {
            // Plain text is never reordered.
            Mode::Plain => {
                self.ready.push(e);
            }
            // Starters are final at once (nothing moves before a starter); kept marks wait for
            // the end of their run to be put in canonical order.
            Mode::Strip => {
                if e.ccc == 0 {
                    self.flush_seq();
                    self.ready.push(e);
                } else if !self.seq.push(e) {
                    self.flush_seq();
                    self.seq.push(e);
                }
            }
            Mode::Nfc => {
                if e.ccc == 0 {
                    if !self.seq.is_empty() {
                        sort_marks(self.seq.live());
                        self.compose_seq();
                        let live = self.seq.live();
                        if live.len() == 1 && live[0].ccc == 0 {
                            if let Some(x) = compose(live[0].c, e.c) {
                                live[0].c = x;
                                live[0].merge_span(&e);
                                return;
                            }
                        }
                        self.move_seq();
                    }
                    self.seq.push(e);
                } else if !self.seq.push(e) {
                    self.flush_seq();
                    self.seq.push(e);
                }
            }
        }
    }

    fn flush_seq(&mut self) {
        if self.seq.is_empty() {
            return;
        }
        sort_marks(self.seq.live());
        if self.mode == Mode::Nfc {
            self.compose_seq();
        }
        self.move_seq();
    }

    fn move_seq(&mut self) {
        while let Some(e) = self.seq.pop() {
            self.ready.push(e);
        }
    }

    /// Canonical composition of a sorted sequence: each mark not blocked from the starter (no
    /// kept mark of the same or higher class before it) composes with it if it can.
    fn compose_seq(&mut self) {
        let live = self.seq.live();
        let Some((first, rest)) = live.split_first_mut() else {
            return;
        };
        if first.ccc != 0 {
            return;
        }
        let mut kept = 0;
        let mut last_ccc = 0u8;
        for r in 0..rest.len() {
            let Some(&e) = rest.get(r) else { break };
            if kept == 0 || last_ccc < e.ccc {
                if let Some(x) = compose(first.c, e.c) {
                    first.c = x;
                    first.merge_span(&e);
                    continue;
                }
            }
            last_ccc = e.ccc;
            // `kept <= r`: always a slot, but the optimiser cannot see it.
            if let Some(slot) = rest.get_mut(kept) {
                *slot = e;
            }
            kept += 1;
        }
        let drop = rest.len() - kept;
        self.seq.len -= drop;
    }

    fn emit(&mut self, e: Entry) -> Norm {
        if self.mode == Mode::Nfc && self.lower {
            let mut first = None;
            lower_into(e.c, |l| match first {
                None => first = Some(l),
                Some(_) => self.extra = Some((l, e.start, e.end)),
            });
            return Norm::Char(first.unwrap_or(e.c), e.start, e.end);
        }
        Norm::Char(e.c, e.start, e.end)
    }
}

/// Stable sort of the non-starters by combining class (insertion sort: runs are short).
fn sort_marks(items: &mut [Entry]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && items[j].ccc != 0 && items[j - 1].ccc > items[j].ccc {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}
