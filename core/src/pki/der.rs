//! A minimal DER reader and writer: enough to detect file formats, walk a
//! PKCS#7 certificate bag, read PKCS#8 headers and encode certificates and
//! requests. Single-byte tags, definite lengths only (BER indefinite lengths
//! are reported as errors, never panics).

pub(crate) const TAG_BOOLEAN: u8 = 0x01;
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_UTF8_STRING: u8 = 0x0c;
pub(crate) const TAG_PRINTABLE_STRING: u8 = 0x13;
pub(crate) const TAG_IA5_STRING: u8 = 0x16;
pub(crate) const TAG_UTC_TIME: u8 = 0x17;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerError {
    /// The element's declared length runs past the end of the input.
    Truncated,
    /// Not valid DER (bad length encoding, multi-byte tag, indefinite length, empty input).
    Invalid,
}

/// One decoded element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// The whole element, header included.
    pub raw: &'a [u8],
}

/// Reads the header of the first element: (tag, header length, content length).
pub(crate) fn read_header(input: &[u8]) -> Result<(u8, usize, usize), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError::Invalid)?;
    if tag & 0x1f == 0x1f {
        return Err(DerError::Invalid);
    }
    let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
    if first < 0x80 {
        return Ok((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        // 0x80 is BER indefinite length; more than 4 length bytes is absurd here.
        return Err(DerError::Invalid);
    }
    let bytes = rest.get(..n).ok_or(DerError::Truncated)?;
    let mut len = 0usize;
    for &b in bytes {
        len = (len << 8) | usize::from(b);
    }
    Ok((tag, 2 + n, len))
}

/// Reads the first element of `input`, returning it and the remaining bytes.
pub(crate) fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (tag, hlen, clen) = read_header(input)?;
    let total = hlen.checked_add(clen).ok_or(DerError::Invalid)?;
    if input.len() < total {
        return Err(DerError::Truncated);
    }
    let raw = input.get(..total).ok_or(DerError::Truncated)?;
    let content = raw.get(hlen..).ok_or(DerError::Truncated)?;
    let rest = input.get(total..).ok_or(DerError::Truncated)?;
    Ok((Tlv { tag, content, raw }, rest))
}

/// Reads one element that must carry `tag`.
pub(crate) fn expect(input: &[u8], tag: u8) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (tlv, rest) = read_tlv(input)?;
    if tlv.tag != tag {
        return Err(DerError::Invalid);
    }
    Ok((tlv, rest))
}

/// Iterates over the elements of a constructed value's content.
pub(crate) fn children(content: &[u8]) -> Result<Vec<Tlv<'_>>, DerError> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (tlv, r) = read_tlv(rest)?;
        out.push(tlv);
        rest = r;
    }
    Ok(out)
}

/// Encodes an OID from its arcs into the content bytes of an OBJECT IDENTIFIER.
pub(crate) fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        [a] => (a * 40, &[][..]),
        [] => return out,
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            groups.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        groups.reverse();
        out.extend(groups);
    }
    out
}

// ---------------------------------------------------------------- writer

/// Encodes one element.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let used = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | used.len() as u8);
        out.extend_from_slice(used);
    }
    out.extend_from_slice(content);
    out
}

/// Encodes a constructed element from already-encoded parts.
pub(crate) fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    cons(TAG_SEQUENCE, parts)
}

pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    tlv(TAG_OID, &oid_content(arcs))
}

/// Encodes an unsigned big-endian integer (adds the sign byte when needed).
pub(crate) fn uint(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes
        .iter()
        .take_while(|&&b| b == 0)
        .count()
        .min(bytes.len().saturating_sub(1));
    let trimmed = bytes.get(skip..).unwrap_or(&[]);
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.is_empty() || trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(TAG_INTEGER, &content)
}

pub(crate) fn small_int(v: u8) -> Vec<u8> {
    uint(&[v])
}

pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(TAG_BIT_STRING, &content)
}

pub(crate) fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(TAG_OCTET_STRING, bytes)
}

pub(crate) fn boolean(v: bool) -> Vec<u8> {
    tlv(TAG_BOOLEAN, &[if v { 0xff } else { 0x00 }])
}

pub(crate) fn null() -> Vec<u8> {
    tlv(TAG_NULL, &[])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oid_encoding() {
        // 1.2.840.113549.1.1.11 sha256WithRSAEncryption
        assert_eq!(
            oid(&[1, 2, 840, 113_549, 1, 1, 11]),
            vec![
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b
            ]
        );
        assert_eq!(oid(&[2, 5, 29, 17]), vec![0x06, 0x03, 0x55, 0x1d, 0x11]);
    }

    #[test]
    fn length_encoding_and_reading() {
        let long = vec![7u8; 300];
        let enc = tlv(TAG_OCTET_STRING, &long);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (t, rest) = read_tlv(&enc).unwrap();
        assert_eq!(t.content.len(), 300);
        assert!(rest.is_empty());
        assert_eq!(read_tlv(&enc[..100]).unwrap_err(), DerError::Truncated);
        assert_eq!(
            read_tlv(&[0x30, 0x80, 0, 0]).unwrap_err(),
            DerError::Invalid
        );
        assert_eq!(read_tlv(&[]).unwrap_err(), DerError::Invalid);
        assert_eq!(read_tlv(&[0x30]).unwrap_err(), DerError::Truncated);
        assert_eq!(
            read_tlv(&[0x1f, 0x01, 0x00]).unwrap_err(),
            DerError::Invalid
        );
    }

    #[test]
    fn integers() {
        assert_eq!(uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(&[0x00, 0x00, 0x05]), vec![0x02, 0x01, 0x05]);
        assert_eq!(uint(&[]), vec![0x02, 0x01, 0x00]);
        assert_eq!(small_int(2), vec![0x02, 0x01, 0x02]);
    }
}
