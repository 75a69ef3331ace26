//! Human-readable ticket codes: 10 characters of Crockford base32.
//!
//! Printed under the QR code and read aloud at the door when a scanner fails, so the
//! alphabet leaves out the letters people confuse with digits (I, L, O) and U. Ten
//! characters are 50 random bits: with a million tickets, a collision is a one in a
//! billion event, and the unique index turns it into a retry, never a duplicate.

use rand::Rng;

/// Crockford's base32 alphabet.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const LEN: usize = 10;

/// A fresh random code.
pub fn generate() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Canonical form of a code typed by a person: upper case, hyphens and spaces dropped,
/// `I`/`L` read as `1` and `O` as `0` (Crockford's decoding rules). `None` if it cannot
/// be a code.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(LEN);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == LEN).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_use_the_alphabet_and_differ() {
        let codes: HashSet<String> = (0..10_000).map(|_| generate()).collect();
        assert_eq!(codes.len(), 10_000);
        for c in &codes {
            assert_eq!(c.len(), LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert_eq!(normalize(c).as_deref(), Some(c.as_str()));
        }
    }

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalize("abcde-fghjk").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalize("0O1IL 23456").as_deref(), Some("0011123456"));
        assert_eq!(normalize("ABCDEFGHJ"), None);
        assert_eq!(normalize("ABCDEFGHJU"), None);
        assert_eq!(normalize("ABCDEFGHJ가"), None);
    }
}
