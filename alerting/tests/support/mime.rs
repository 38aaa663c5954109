//! A small, strict MIME reader for the e-mail tests: headers (unfolded, RFC 2047 words
//! decoded on request), multipart bodies split on their boundary, and `7bit`,
//! `quoted-printable` and `base64` bodies decoded. It panics on anything malformed, which in a
//! test is a failure. Shared by the unit tests of `email::encode` (included by path) and the
//! integration tests.

#![allow(dead_code)]

/// One message or body part.
#[derive(Debug, Clone)]
pub struct Part {
    /// In order; names as written, values unfolded (CRLF removed) and not decoded.
    pub headers: Vec<(String, String)>,
    /// Still transfer-encoded.
    pub body: Vec<u8>,
}

impl Part {
    /// Parse a message or part; lines must end with CRLF.
    pub fn parse(raw: &[u8]) -> Part {
        let split = find(raw, b"\r\n\r\n").expect("a blank line ends the header section");
        let head = std::str::from_utf8(&raw[..split]).expect("headers are UTF-8");
        let body = raw[split + 4..].to_vec();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            assert!(
                !line.contains('\n') && !line.contains('\r'),
                "bare CR or LF in header line {line:?}"
            );
            if line.starts_with(' ') || line.starts_with('\t') {
                let last = headers
                    .last_mut()
                    .expect("a continuation line follows a header");
                last.1.push_str(line);
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("header line without a colon: {line:?}"));
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()),
                "bad header name {name:?}"
            );
            headers.push((name.to_string(), value.trim_start().to_string()));
        }
        Part { headers, body }
    }

    /// The first header of that name (case-insensitive), unfolded, not decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The header with its RFC 2047 encoded words decoded.
    pub fn decoded(&self, name: &str) -> Option<String> {
        self.header(name).map(decode_words)
    }

    /// `text/plain`, lower case, without parameters (`text/plain` when absent).
    pub fn mime_type(&self) -> String {
        self.header("content-type")
            .map(|v| v.split(';').next().unwrap().trim().to_ascii_lowercase())
            .unwrap_or_else(|| "text/plain".to_string())
    }

    /// A parameter of `Content-Type` (`boundary`, `charset`), unquoted.
    pub fn param(&self, name: &str) -> Option<String> {
        let ct = self.header("content-type")?;
        ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    }

    /// The parts of a multipart body, in order.
    pub fn parts(&self) -> Vec<Part> {
        assert!(
            self.mime_type().starts_with("multipart/"),
            "not multipart: {}",
            self.mime_type()
        );
        let boundary = self.param("boundary").expect("a multipart has a boundary");
        let delimiter = format!("--{boundary}");
        let separator = format!("\r\n{delimiter}");
        let text = std::str::from_utf8(&self.body).expect("a multipart body is UTF-8");
        let mut chunks = text.split(separator.as_str());
        // Before the first delimiter: the preamble (the body may start with the delimiter).
        let first = chunks.next().unwrap();
        let mut parts = Vec::new();
        let mut rest: Vec<&str> = Vec::new();
        if let Some(after) = first.strip_prefix(&delimiter) {
            rest.push(after);
        }
        rest.extend(chunks);
        let mut closed = false;
        for chunk in rest {
            if chunk.starts_with("--") {
                closed = true;
                break;
            }
            let chunk = chunk
                .strip_prefix("\r\n")
                .expect("a delimiter line ends with CRLF");
            parts.push(Part::parse(chunk.as_bytes()));
        }
        assert!(closed, "the multipart has no closing delimiter");
        parts
    }

    /// The first part (depth first, this one included) of that type.
    pub fn find(&self, mime_type: &str) -> Option<Part> {
        if self.mime_type() == mime_type {
            return Some(self.clone());
        }
        if self.mime_type().starts_with("multipart/") {
            return self.parts().iter().find_map(|p| p.find(mime_type));
        }
        None
    }

    /// The body with its transfer encoding undone, as UTF-8 (CRLF kept).
    pub fn text(&self) -> String {
        let cte = self
            .header("content-transfer-encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        let bytes = match cte.as_str() {
            "7bit" | "8bit" | "binary" => self.body.clone(),
            "quoted-printable" => qp_decode(&self.body),
            "base64" => base64_decode(std::str::from_utf8(&self.body).expect("base64 is ASCII")),
            other => panic!("unknown transfer encoding {other}"),
        };
        String::from_utf8(bytes).expect("a text part is UTF-8")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decode `=?charset?B|Q?...?=` words (UTF-8 and US-ASCII only); white space between two
/// encoded words is dropped (RFC 2047 section 6.2).
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if rest.starts_with("=?") {
            if let Some((decoded, used)) = encoded_word(rest) {
                if !last_was_word {
                    out.push_str(&pending_space);
                }
                pending_space.clear();
                out.push_str(&decoded);
                rest = &rest[used..];
                last_was_word = true;
                continue;
            }
        }
        let c = rest.chars().next().unwrap();
        if c == ' ' || c == '\t' {
            pending_space.push(c);
        } else {
            out.push_str(&pending_space);
            pending_space.clear();
            out.push(c);
            last_was_word = false;
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&pending_space);
    out
}

fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = &s[2..];
    let (charset, inner) = inner.split_once('?')?;
    let (enc, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    let used = 2 + charset.len() + 1 + enc.len() + 1 + end + 2;
    let charset = charset.to_ascii_lowercase();
    assert!(
        charset == "utf-8" || charset == "us-ascii",
        "charset {charset}"
    );
    let bytes = match enc {
        "b" | "B" => base64_decode(text),
        "q" | "Q" => qp_decode(text.replace('_', " ").as_bytes()),
        _ => return None,
    };
    Some((
        String::from_utf8(bytes).expect("an encoded word is UTF-8"),
        used,
    ))
}

/// Standard base64 with padding; line breaks and spaces are skipped.
pub fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in s.bytes() {
        if b == b'=' {
            break;
        }
        if b.is_ascii_whitespace() {
            continue;
        }
        let v = T
            .iter()
            .position(|t| *t == b)
            .unwrap_or_else(|| panic!("not base64: {:?}", b as char)) as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable (RFC 2045 6.7): `=XX` escapes and `=` soft line breaks.
pub fn qp_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'=' {
            if s[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            let hex = std::str::from_utf8(&s[i + 1..i + 3]).expect("an escape is ASCII");
            out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape ={hex}")));
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}
