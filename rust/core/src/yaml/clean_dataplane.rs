//! The conservative "loads with no problem and no warning" verdict ([`super::clean`]) for the
//! common Dataplane shape (TP §1.4, §5.2; Kuma's dataplane validator):
//!
//! ```yaml
//! networking:
//!   address: 10.0.0.1            # a canonical IPv4 address, not 0.0.0.0
//!   inbound:                      # at least one
//!     - port: 8080                # 1..65535
//!       servicePort: 80           # optional, 1..65535
//!       tags: {kuma.io/service: web, kuma.io/protocol: http, ...}
//! ```
//!
//! Every tag map holds `kuma.io/service`, names in `[a-zA-Z0-9.\-_:/]+`, values in
//! `[a-zA-Z0-9.\-_:]+` (ValidateTags: no `/`, no `*`), and `kuma.io/protocol`, when present, one
//! of Kuma's protocols written in lower case. Anything else — gateways, outbounds, admin, probes,
//! metrics, service / inbound addresses, DNS-name addresses, IPv6, a port written as text — answers
//! `false`, and the Python validators decide and word it (so no message depends on this module).

use super::{Scalar, Value};

const SERVICE_TAG: &str = "kuma.io/service";
const PROTOCOL_TAG: &str = "kuma.io/protocol";
const PROTOCOLS: [&str; 5] = ["grpc", "http", "http2", "kafka", "tcp"];

fn str_of<'a>(v: &'a Value<'_>) -> Option<&'a str> {
    match v {
        Value::Scalar(Scalar::Str, t) => Some(t),
        _ => None,
    }
}

/// The entries of a mapping whose keys are all strings among `known`.
fn fields<'a, 'b>(v: &'a Value<'b>, known: &[&str]) -> Option<Vec<(&'a str, &'a Value<'b>)>> {
    let Value::Map(entries) = v else {
        return None;
    };
    entries
        .iter()
        .map(|(k, v)| str_of(k).filter(|k| known.contains(k)).map(|k| (k, v)))
        .collect()
}

fn get<'a, 'b>(f: &[(&str, &'a Value<'b>)], key: &str) -> Option<&'a Value<'b>> {
    f.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A port (the model's UInt32, then ValidatePort): an integer scalar in 1..=65535.
fn port(v: Option<&Value<'_>>) -> bool {
    matches!(v, Some(Value::Scalar(Scalar::Int(p), _)) if (1..=65535).contains(p))
}

/// Go's `net.ParseIP` on dotted-quad text, restricted to the canonical form: four decimal octets
/// without leading zeros, each at most 255; 0.0.0.0 is refused (Kuma: "must not be 0.0.0.0").
fn ipv4(text: &str) -> bool {
    let mut octets = 0;
    for part in text.split('.') {
        octets += 1;
        let b = part.as_bytes();
        let digits = !b.is_empty() && b.len() <= 3 && b.iter().all(u8::is_ascii_digit);
        if !digits || (b.len() > 1 && b.first() == Some(&b'0')) {
            return false;
        }
        if part.parse::<u16>().map_or(true, |n| n > 255) {
            return false;
        }
    }
    octets == 4 && text != "0.0.0.0"
}

fn tag_char(c: u8, slash: bool) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':') || (slash && c == b'/')
}

/// An inbound's tags: string keys and values only, `kuma.io/service` present, ValidateTags'
/// charsets, a lower-case supported `kuma.io/protocol`.
fn tags(v: Option<&Value<'_>>) -> bool {
    let Some(Value::Map(entries)) = v else {
        return false;
    };
    let mut service = false;
    for (k, v) in entries {
        let (Some(k), Some(v)) = (str_of(k), str_of(v)) else {
            return false;
        };
        let ok = !k.is_empty()
            && k.bytes().all(|c| tag_char(c, true))
            && !v.is_empty()
            && v.bytes().all(|c| tag_char(c, false))
            && (k != PROTOCOL_TAG || PROTOCOLS.contains(&v));
        if !ok {
            return false;
        }
        service |= k == SERVICE_TAG;
    }
    service
}

fn inbound(v: &Value<'_>) -> bool {
    let Some(f) = fields(v, &["port", "servicePort", "tags"]) else {
        return false;
    };
    port(get(&f, "port"))
        && get(&f, "servicePort").is_none_or(|p| port(Some(p)))
        && tags(get(&f, "tags"))
}

/// The Dataplane body's `networking` (see the module documentation).
pub fn networking(v: Option<&Value<'_>>) -> bool {
    let Some(f) = v.and_then(|v| fields(v, &["address", "inbound"])) else {
        return false;
    };
    let Some(Value::Seq(inbounds)) = get(&f, "inbound") else {
        return false;
    };
    get(&f, "address").and_then(str_of).is_some_and(ipv4)
        && !inbounds.is_empty()
        && inbounds.iter().all(inbound)
}

/// One inbound as the engines take it: (port, tags in the order written).
pub type Inbound<'a> = (u32, Vec<(&'a str, &'a str)>);

/// The inbounds of a Dataplane document whose `networking` [`networking`] finds clean (the
/// traffic compile's and the MTP compile's inputs: no gateway, no inbound name or state in this
/// shape); None for another document.
pub fn inbounds<'a>(doc: &'a Value<'_>) -> Option<Vec<Inbound<'a>>> {
    let Value::Map(entries) = doc else {
        return None;
    };
    let field = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| str_of(k) == Some(key))
            .map(|(_, v)| v)
    };
    if field("type").and_then(str_of) != Some("Dataplane") || !networking(field("networking")) {
        return None;
    }
    let f = fields(field("networking")?, &["address", "inbound"])?;
    let Some(Value::Seq(items)) = get(&f, "inbound") else {
        return None;
    };
    items
        .iter()
        .map(|item| {
            let i = fields(item, &["port", "servicePort", "tags"])?;
            let Some(Value::Scalar(Scalar::Int(port), _)) = get(&i, "port") else {
                return None;
            };
            let Some(Value::Map(tags)) = get(&i, "tags") else {
                return None;
            };
            let tags = tags
                .iter()
                .map(|(k, v)| Some((str_of(k)?, str_of(v)?)))
                .collect::<Option<Vec<_>>>()?;
            Some((u32::try_from(*port).ok()?, tags))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ipv4_only() {
        for ok in ["10.0.0.1", "192.168.255.255", "0.0.0.1", "1.2.3.4"] {
            assert!(ipv4(ok), "{ok}");
        }
        for bad in [
            "0.0.0.0",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.",
            "",
            "a.b.c.d",
            "1.2.3.4 ",
            "::1",
            "+1.2.3.4",
            "1..2.3",
        ] {
            assert!(!ipv4(bad), "{bad}");
        }
    }
}
