//! What a finished TLS handshake tells the application: version, cipher,
//! the name the client asked for, and the client's verified certificate.

use rustls::ServerConnection;

/// A TLS connection's handshake, as the request shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// "TLSv1.2" or "TLSv1.3".
    pub version: &'static str,
    /// The IANA name of the cipher suite ("TLS13_AES_128_GCM_SHA256").
    pub cipher: String,
    /// The server name the client asked for (SNI), if any.
    pub server_name: Option<String>,
    /// The client certificate's subject as an RFC 4514 string
    /// ("CN=alice,O=Example"), present only when one was sent and verified
    /// against `tls_ca`.
    pub peer_subject: Option<String>,
    /// That certificate, DER encoded.
    pub peer_certificate: Option<Vec<u8>>,
}

impl TlsInfo {
    /// Read off a connection whose handshake is complete.
    pub(crate) fn of(tls: &ServerConnection) -> TlsInfo {
        let version = match tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLSv1.3",
        };
        let cipher = tls
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        let leaf = tls.peer_certificates().and_then(|c| c.first());
        TlsInfo {
            version,
            cipher,
            server_name: tls.server_name().map(str::to_string),
            peer_subject: leaf
                .and_then(|c| webpki::EndEntityCert::try_from(c).ok())
                .map(|c| dn::to_string(c.subject())),
            peer_certificate: leaf.map(|c| c.to_vec()),
        }
    }
}

/// Distinguished names as RFC 4514 strings, from DER.
mod dn {
    use std::fmt::Write;

    /// One TLV: tag, contents, and the rest.
    fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = der.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |a, &b| a << 8 | b as usize);
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    /// Short names of the attribute types RFC 4514 lists (and the usual
    /// extras), by their encoded OID.
    const NAMES: &[(&[u8], &str)] = &[
        (&[0x55, 0x04, 0x03], "CN"),
        (&[0x55, 0x04, 0x07], "L"),
        (&[0x55, 0x04, 0x08], "ST"),
        (&[0x55, 0x04, 0x0a], "O"),
        (&[0x55, 0x04, 0x0b], "OU"),
        (&[0x55, 0x04, 0x06], "C"),
        (&[0x55, 0x04, 0x09], "STREET"),
        (&[0x55, 0x04, 0x05], "serialNumber"),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
            "DC",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
            "UID",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            "emailAddress",
        ),
    ];

    fn oid_string(oid: &[u8]) -> String {
        if let Some((_, n)) = NAMES.iter().find(|(o, _)| *o == oid) {
            return n.to_string();
        }
        let mut arcs = Vec::new();
        let mut v: u64 = 0;
        for &b in oid {
            v = v << 7 | (b & 0x7f) as u64;
            if b & 0x80 == 0 {
                arcs.push(v);
                v = 0;
            }
        }
        let mut s = String::new();
        if let Some(&first) = arcs.first() {
            let (a, b) = match first {
                0..=39 => (0, first),
                40..=79 => (1, first - 40),
                _ => (2, first - 80),
            };
            let _ = write!(s, "{a}.{b}");
            for a in &arcs[1..] {
                let _ = write!(s, ".{a}");
            }
        }
        s
    }

    /// A value: a string type as escaped text, anything else as `#` and
    /// the hex of its whole encoding.
    fn value(out: &mut String, tag: u8, contents: &[u8], whole: &[u8]) {
        let text = match tag {
            // UTF8String, PrintableString, T61String, IA5String
            0x0c | 0x13 | 0x14 | 0x16 => std::str::from_utf8(contents).ok().map(String::from),
            // BMPString
            0x1e if contents.len() % 2 == 0 => String::from_utf16(
                &contents
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect::<Vec<_>>(),
            )
            .ok(),
            _ => None,
        };
        let Some(text) = text else {
            out.push('#');
            for b in whole {
                let _ = write!(out, "{b:02x}");
            }
            return;
        };
        let last = text.chars().count().saturating_sub(1);
        for (i, c) in text.chars().enumerate() {
            let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
                || (i == 0 && matches!(c, '#' | ' '))
                || (i == last && c == ' ');
            if special {
                out.push('\\');
            }
            if c == '\0' {
                out.push_str("\\00");
            } else {
                out.push(c);
            }
        }
    }

    /// The contents of a Name (a SEQUENCE of RDN SETs) as RFC 4514 text:
    /// the last RDN first, attributes of one RDN joined by '+'.
    pub fn to_string(mut der: &[u8]) -> String {
        let mut rdns = Vec::new();
        while let Some((0x31, mut set, rest)) = tlv(der) {
            der = rest;
            let mut rdn = String::new();
            while let Some((0x30, atv, more)) = tlv(set) {
                set = more;
                let Some((0x06, oid, val)) = tlv(atv) else {
                    break;
                };
                let Some((tag, contents, _)) = tlv(val) else {
                    break;
                };
                if !rdn.is_empty() {
                    rdn.push('+');
                }
                rdn.push_str(&oid_string(oid));
                rdn.push('=');
                value(&mut rdn, tag, contents, val);
            }
            rdns.push(rdn);
        }
        rdns.reverse();
        rdns.join(",")
    }

    #[cfg(test)]
    mod tests {
        use super::to_string;

        fn atv(oid: &[u8], tag: u8, v: &[u8]) -> Vec<u8> {
            let mut inner = vec![0x06, oid.len() as u8];
            inner.extend_from_slice(oid);
            inner.extend([tag, v.len() as u8]);
            inner.extend_from_slice(v);
            let mut seq = vec![0x30, inner.len() as u8];
            seq.extend(inner);
            let mut set = vec![0x31, seq.len() as u8];
            set.extend(seq);
            set
        }

        #[test]
        fn names_come_out_most_specific_first_and_escaped() {
            let mut der = atv(&[0x55, 0x04, 0x06], 0x13, b"DE");
            der.extend(atv(&[0x55, 0x04, 0x0a], 0x0c, b"Acme, Inc."));
            der.extend(atv(&[0x55, 0x04, 0x03], 0x0c, b"#alice "));
            assert_eq!(to_string(&der), r"CN=\#alice\ ,O=Acme\, Inc.,C=DE");
            let odd = atv(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37], 0x04, &[1, 2]);
            assert_eq!(to_string(&odd), "1.3.6.1.4.1.311=#04020102");
            assert_eq!(to_string(&[0x31, 0x05, 0x30]), "", "truncated input stops");
        }
    }
}
