//! Character properties from the generated tables (`tables.rs`, made by
//! `tools/gen_unicode_tables.py` from Python's `unicodedata`), and the algorithmic Hangul part of
//! canonical (de)composition.

use super::tables::{CCC, CLASSES, COMPOSE, DECOMP, LOWER, LOWER_DELTA};

/// What the basic tokenizer does with a character (bits 0..2 of a `CLASSES` value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Other,
    /// `' '`, `\t`, `\n`, `\r` and category Zs: becomes a space.
    Space,
    /// Cc or Cf (but not `\t\n\r`): dropped by every reference.
    Control,
    /// Cn, Co, Cs: dropped by Hugging Face (`category.startswith("C")`), kept by Google.
    OtherC,
    /// ASCII non-alphanumerics and Unicode P*: split off as a word of its own.
    Punct,
    /// Mn: dropped when stripping accents.
    Mark,
    /// U+2028, U+2029: kept by the cleaning step, but `str.split()` breaks words on them.
    Separator,
}

/// How `str.lower()`'s Final_Sigma rule sees a character (bits 3..4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    None,
    Cased,
    Ignorable,
}

fn run_value(table: &[u32], cp: u32) -> u32 {
    // The first run starts at U+0000, so the partition point is at least 1.
    let i = table.partition_point(|&e| (e >> 8) <= cp);
    table.get(i.wrapping_sub(1)).map_or(0, |e| e & 0xFF)
}

fn class_bits(c: char) -> u32 {
    run_value(&CLASSES, c as u32)
}

pub(crate) fn class(c: char) -> Class {
    if c.is_ascii() {
        return ascii_class(c as u8);
    }
    match class_bits(c) & 7 {
        1 => Class::Space,
        2 => Class::Control,
        3 => Class::OtherC,
        4 => Class::Punct,
        5 => Class::Mark,
        6 => Class::Separator,
        _ => Class::Other,
    }
}

pub(crate) fn ascii_class(b: u8) -> Class {
    match b {
        b' ' | b'\t' | b'\n' | b'\r' => Class::Space,
        0..=0x1F | 0x7F => Class::Control,
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => Class::Other,
        _ => Class::Punct,
    }
}

pub(crate) fn case(c: char) -> Case {
    if c.is_ascii() {
        // Same answers as the table (checked by a test), without the search.
        return match c {
            'a'..='z' | 'A'..='Z' => Case::Cased,
            '\'' | '.' | ':' | '^' | '`' => Case::Ignorable,
            _ => Case::None,
        };
    }
    table_case(c)
}

fn table_case(c: char) -> Case {
    match (class_bits(c) >> 3) & 3 {
        1 => Case::Cased,
        2 => Case::Ignorable,
        _ => Case::None,
    }
}

/// `str.lower()` of one character, except U+0130 (two characters, see `lower_into`) and the
/// context-dependent final sigma (decided by the scanner).
fn lower_one(c: char) -> char {
    let cp = c as u32;
    let i = LOWER.partition_point(|&e| (e >> 8) <= cp);
    let Some(j) = i.checked_sub(1) else {
        return c;
    };
    let e = LOWER[j];
    let start = e >> 8;
    let count = ((e >> 1) & 0x7F) + 1;
    let stride = if e & 1 != 0 { 2 } else { 1 };
    let k = cp - start;
    if k % stride != 0 || k / stride >= count {
        return c;
    }
    let delta = LOWER_DELTA.get(j).copied().unwrap_or(0);
    char::from_u32(cp.wrapping_add_signed(delta)).unwrap_or(c)
}

/// Appends `str.lower()` of `c` (one or two characters) through `push`.
pub(crate) fn lower_into(c: char, mut push: impl FnMut(char)) {
    if c.is_ascii() {
        push(c.to_ascii_lowercase());
    } else if c == '\u{130}' {
        push('i');
        push('\u{307}');
    } else {
        push(lower_one(c));
    }
}

pub(crate) fn ccc(c: char) -> u8 {
    if (c as u32) < 0x300 {
        return 0;
    }
    run_value(&CCC, c as u32) as u8
}

const S_BASE: u32 = 0xAC00;
const L_BASE: u32 = 0x1100;
const V_BASE: u32 = 0x1161;
const T_BASE: u32 = 0x11A7;
const L_COUNT: u32 = 19;
const V_COUNT: u32 = 21;
const T_COUNT: u32 = 28;
const N_COUNT: u32 = V_COUNT * T_COUNT;
const S_COUNT: u32 = L_COUNT * N_COUNT;

const MASK21: u64 = (1 << 21) - 1;

fn decomp_entry(c: char) -> Option<(char, Option<char>)> {
    let cp = c as u64;
    let i = DECOMP.partition_point(|&e| (e >> 42) < cp);
    let e = *DECOMP.get(i)?;
    if e >> 42 != cp {
        return None;
    }
    let a = char::from_u32(((e >> 21) & MASK21) as u32)?;
    let b = (e & MASK21) as u32;
    Some((a, if b == 0 { None } else { char::from_u32(b) }))
}

/// Full canonical decomposition (NFD of one character) through `push`, in order: at most 4
/// characters for Unicode 14.
pub(crate) fn decompose(c: char, push: &mut impl FnMut(char)) {
    let cp = c as u32;
    if cp < 0xC0 {
        push(c);
        return;
    }
    if (S_BASE..S_BASE + S_COUNT).contains(&cp) {
        let s = cp - S_BASE;
        let l = L_BASE + s / N_COUNT;
        let v = V_BASE + (s % N_COUNT) / T_COUNT;
        let t = T_BASE + s % T_COUNT;
        for x in [l, v] {
            push(char::from_u32(x).unwrap_or(c));
        }
        if t != T_BASE {
            push(char::from_u32(t).unwrap_or(c));
        }
        return;
    }
    match decomp_entry(c) {
        Some((a, b)) => {
            decompose(a, push);
            if let Some(b) = b {
                decompose(b, push);
            }
        }
        None => push(c),
    }
}

/// The primary composite of `a` followed by `b`, if any.
pub(crate) fn compose(a: char, b: char) -> Option<char> {
    let (a32, b32) = (a as u32, b as u32);
    if (L_BASE..L_BASE + L_COUNT).contains(&a32) && (V_BASE..V_BASE + V_COUNT).contains(&b32) {
        let s = S_BASE + ((a32 - L_BASE) * V_COUNT + (b32 - V_BASE)) * T_COUNT;
        return char::from_u32(s);
    }
    if (S_BASE..S_BASE + S_COUNT).contains(&a32)
        && (a32 - S_BASE) % T_COUNT == 0
        && (T_BASE + 1..T_BASE + T_COUNT).contains(&b32)
    {
        return char::from_u32(a32 + (b32 - T_BASE));
    }
    let key = ((a32 as u64) << 21) | b32 as u64;
    let i = COMPOSE.partition_point(|&e| (e >> 21) < key);
    let e = *COMPOSE.get(i)?;
    if e >> 21 != key {
        return None;
    }
    char::from_u32((e & MASK21) as u32)
}

/// The CJK ideograph blocks of transformers' and Google's `_is_chinese_char`.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nfd(c: char) -> ([char; 4], usize) {
        let mut out = ['\0'; 4];
        let mut n = 0;
        decompose(c, &mut |x| {
            out[n] = x;
            n += 1;
        });
        (out, n)
    }

    #[test]
    fn classes_follow_the_python_definitions() {
        assert_eq!(class('a'), Class::Other);
        assert_eq!(class('\u{A0}'), Class::Space);
        assert_eq!(class('\u{3000}'), Class::Space);
        assert_eq!(class('\u{200B}'), Class::Control);
        assert_eq!(class('\u{E000}'), Class::OtherC);
        assert_eq!(class('\u{378}'), Class::OtherC, "unassigned");
        assert_eq!(
            class('$'),
            Class::Punct,
            "ASCII symbol counts as punctuation"
        );
        assert_eq!(class('\u{B7}'), Class::Punct);
        assert_eq!(class('\u{2018}'), Class::Punct);
        assert_eq!(class('\u{301}'), Class::Mark);
        assert_eq!(class('\u{2028}'), Class::Separator);
        assert_eq!(class('€'), Class::Other, "Sc is not punctuation");
    }

    #[test]
    fn lowercase_and_case_classes() {
        let lower = |c| {
            let mut s = ['\0'; 2];
            let mut n = 0;
            lower_into(c, |x| {
                s[n] = x;
                n += 1;
            });
            (s, n)
        };
        assert_eq!(lower('A'), (['a', '\0'], 1));
        assert_eq!(lower('Σ'), (['σ', '\0'], 1));
        assert_eq!(lower('\u{130}'), (['i', '\u{307}'], 2));
        assert_eq!(lower('Ā'), (['ā', '\0'], 1), "stride-2 run");
        assert_eq!(lower('ā'), (['ā', '\0'], 1));
        assert_eq!(lower('Ω'), (['ω', '\0'], 1));
        assert_eq!(case('A'), Case::Cased);
        assert_eq!(case('\''), Case::Ignorable);
        assert_eq!(case('\u{301}'), Case::Ignorable);
        assert_eq!(case('1'), Case::None);
        for b in 0..0x80u8 {
            let c = b as char;
            assert_eq!(case(c), table_case(c), "{c:?}");
            assert_eq!(ascii_class(b) as u32, class_bits(c) & 7, "{c:?}");
        }
    }

    #[test]
    fn canonical_decomposition_and_composition() {
        assert_eq!(nfd('é'), (['e', '\u{301}', '\0', '\0'], 2));
        assert_eq!(nfd('\u{1E69}').1, 3, "s with dot below and dot above");
        assert_eq!(
            nfd('\u{212B}').0[..2],
            ['A', '\u{30A}'],
            "Angstrom sign, via singleton"
        );
        assert_eq!(nfd('한').1, 3);
        assert_eq!(compose('e', '\u{301}'), Some('é'));
        assert_eq!(compose('\u{1100}', '\u{1161}'), Some('가'));
        assert_eq!(compose('가', '\u{11A8}'), Some('각'));
        assert_eq!(compose('A', 'B'), None);
        assert_eq!(
            compose('\u{3B9}', '\u{344}'),
            None,
            "non-starter decomposition is excluded"
        );
        assert_eq!(ccc('\u{301}'), 230);
        assert_eq!(ccc('\u{323}'), 220);
        assert_eq!(ccc('a'), 0);
    }
}
