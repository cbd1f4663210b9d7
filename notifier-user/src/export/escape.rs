//! Text from outside notifier-top, made safe to show. notifier-top runs as root and prints
//! what others chose: any process names itself (`prctl(PR_SET_NAME)`, 15 arbitrary bytes),
//! a recording carries whatever its maker wrote, and module, symbol and file names are
//! text too. Printed raw, an escape sequence in any of them retitles, clears or
//! reprograms the terminal of whoever runs notifier-top, and a bidi control reorders what
//! they read. Every human-readable output shows such text through [`Escaped`]; JSON is
//! escaped by its encoder instead, so it carries the text unchanged.

use std::fmt::{self, Display};

/// Shows text with everything that is not plain printable text spelled out:
/// C0 controls, DEL and C1 controls (U+0080..U+009F) as `\xNN`, bytes that are not
/// UTF-8 as `\xNN` too, the bidi embedding, override and isolate controls
/// (U+202A..U+202E, U+2066..U+2069) as `\u{NNNN}`, and `\` as `\\` so that an escape
/// cannot be forged. Width and alignment (`{:<16}`) apply to the escaped text.
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    newlines: bool,
}

impl<'a> Escaped<'a> {
    /// Bytes that may not be UTF-8, such as a comm as the kernel keeps it.
    pub fn bytes(bytes: &'a [u8]) -> Escaped<'a> {
        Escaped {
            bytes,
            newlines: false,
        }
    }

    /// One field of a line: a name, a path, a kernel string.
    pub fn str(s: &'a str) -> Escaped<'a> {
        Escaped::bytes(s.as_bytes())
    }

    /// A whole message that may span lines by design (an error chain with a verifier log,
    /// a log record): `\n` stays a line break, everything else is escaped as by `str`.
    pub fn text(s: &'a str) -> Escaped<'a> {
        Escaped {
            newlines: true,
            ..Escaped::str(s)
        }
    }

    fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        for chunk in self.bytes.utf8_chunks() {
            let valid = chunk.valid();
            // Runs of plain characters are written as they are, in one piece.
            let mut plain = 0;
            for (i, c) in valid.char_indices() {
                let escaped = match c {
                    '\\' => Some(Escape::Backslash),
                    '\n' if self.newlines => None,
                    c if c.is_control() => Some(Escape::Byte(c as u8)),
                    '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => Some(Escape::Unicode(c)),
                    _ => None,
                };
                if let Some(e) = escaped {
                    out.write_str(&valid[plain..i])?;
                    e.write(out)?;
                    plain = i + c.len_utf8();
                }
            }
            out.write_str(&valid[plain..])?;
            for &b in chunk.invalid() {
                Escape::Byte(b).write(out)?;
            }
        }
        Ok(())
    }
}

enum Escape {
    Backslash,
    /// A control character (its code point is below U+00A0, so it fits a byte) or a byte
    /// that is not UTF-8.
    Byte(u8),
    Unicode(char),
}

impl Escape {
    fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Escape::Backslash => out.write_str("\\\\"),
            Escape::Byte(b) => write!(out, "\\x{b:02x}"),
            Escape::Unicode(c) => write!(out, "\\u{{{:04x}}}", u32::from(*c)),
        }
    }
}

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() {
            return self.write(f);
        }
        let mut s = String::new();
        self.write(&mut s)?;
        f.pad(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(bytes: &[u8]) -> String {
        Escaped::bytes(bytes).to_string()
    }

    #[test]
    fn every_single_byte_is_printable_or_escaped() {
        for b in 0..=255u8 {
            let shown = show(&[b]);
            let expected = match b {
                b'\\' => "\\\\".to_owned(),
                0x20..=0x7e => (b as char).to_string(),
                // Control characters, DEL, and every byte above ASCII alone (not UTF-8).
                _ => format!("\\x{b:02x}"),
            };
            assert_eq!(shown, expected, "byte 0x{b:02x}");
            assert!(!shown.contains(|c: char| c.is_control()), "byte 0x{b:02x}");
        }
    }

    #[test]
    fn c1_controls_are_escaped_as_their_code_point() {
        for cp in 0x80..=0x9fu32 {
            let c = char::from_u32(cp).unwrap();
            assert_eq!(
                Escaped::str(&c.to_string()).to_string(),
                format!("\\x{cp:02x}")
            );
        }
        assert_eq!(Escaped::str("\u{a0}é").to_string(), "\u{a0}é");
    }

    #[test]
    fn bidi_controls_are_named_other_text_is_kept() {
        for cp in (0x202a..=0x202eu32).chain(0x2066..=0x2069) {
            let c = char::from_u32(cp).unwrap();
            assert_eq!(
                Escaped::str(&format!("a{c}b")).to_string(),
                format!("a\\u{{{cp:04x}}}b")
            );
        }
        assert_eq!(Escaped::str("nfctl ✓ 日本").to_string(), "nfctl ✓ 日本");
    }

    #[test]
    fn backslashes_are_doubled_so_escapes_cannot_be_forged() {
        assert_eq!(Escaped::str(r"a\x1b").to_string(), r"a\\x1b");
        assert_eq!(show(b"\x1b"), r"\x1b");
    }

    #[test]
    fn a_hostile_comm_loses_its_escape_sequences() {
        let comm = b"\x1b]0;PWNED\x07\x1b[2J";
        assert_eq!(show(comm), r"\x1b]0;PWNED\x07\x1b[2J");
        assert_eq!(
            show(b"ok\xff\xfe"),
            r"ok\xff\xfe",
            "invalid UTF-8 byte by byte"
        );
    }

    #[test]
    fn only_text_keeps_line_breaks() {
        assert_eq!(Escaped::str("a\nb").to_string(), r"a\x0ab");
        assert_eq!(Escaped::text("a\nb\r\x1b").to_string(), "a\nb\\x0d\\x1b");
    }

    #[test]
    fn width_applies_to_the_escaped_text() {
        assert_eq!(format!("[{:<6}]", Escaped::bytes(b"\x07")), r"[\x07  ]");
        assert_eq!(format!("[{:>3}]", Escaped::str("ab")), "[ ab]");
    }
}
