//! §8 denial texts, byte for byte, with Go `%q` quoting of the user (R8.1).

use super::identity::User;

/// Why a request was denied; each maps to one Kuma reason text (R8.2, R8.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// R8.2 / R8.5: RBAC mode, every action.
    CannotAccessResource,
    /// R8.6 static admin resource (Secret / GlobalSecret).
    ResourceOfType(String),
    /// R8.6 static dataplane token.
    DataplaneToken,
    /// R8.6 static zone token (zone name in single quotes).
    ZoneToken(String),
    /// R8.6 static user token: no user in the text.
    UserToken,
    /// R8.6 static envoy config dump / stats / clusters.
    EnvoyProxyInfo,
    /// Static zone control-plane token: Kong Mesh text unknown (closed source, R8.6).
    ZoneCpToken,
}

/// A decision's reason code without payload (batch `reason` column): `Allowed` or the kind of
/// denial. Stable strings; `ALL[c as usize] == c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonCode {
    Allowed,
    CannotAccessResource,
    ResourceOfType,
    DataplaneToken,
    ZoneToken,
    UserToken,
    EnvoyProxyInfo,
    ZoneCpToken,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 8] = [
        ReasonCode::Allowed,
        ReasonCode::CannotAccessResource,
        ReasonCode::ResourceOfType,
        ReasonCode::DataplaneToken,
        ReasonCode::ZoneToken,
        ReasonCode::UserToken,
        ReasonCode::EnvoyProxyInfo,
        ReasonCode::ZoneCpToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Allowed => "allowed",
            ReasonCode::CannotAccessResource => "cannot-access-resource",
            ReasonCode::ResourceOfType => "resource-of-type",
            ReasonCode::DataplaneToken => "dataplane-token",
            ReasonCode::ZoneToken => "zone-token",
            ReasonCode::UserToken => "user-token",
            ReasonCode::EnvoyProxyInfo => "envoy-proxy-info",
            ReasonCode::ZoneCpToken => "zone-cp-token",
        }
    }
}

impl Reason {
    pub fn code(&self) -> ReasonCode {
        match self {
            Reason::CannotAccessResource => ReasonCode::CannotAccessResource,
            Reason::ResourceOfType(_) => ReasonCode::ResourceOfType,
            Reason::DataplaneToken => ReasonCode::DataplaneToken,
            Reason::ZoneToken(_) => ReasonCode::ZoneToken,
            Reason::UserToken => ReasonCode::UserToken,
            Reason::EnvoyProxyInfo => ReasonCode::EnvoyProxyInfo,
            Reason::ZoneCpToken => ReasonCode::ZoneCpToken,
        }
    }
}

/// Where the denial is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// R8.3: kumactl `Title (Detail)`.
    Api,
    /// R8.4: the validating webhook.
    KubernetesWebhook,
}

impl Channel {
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "api" => Some(Channel::Api),
            "kubernetes-webhook" => Some(Channel::KubernetesWebhook),
            _ => None,
        }
    }
}

/// Go `unicode.IsPrint` approximation: L, M, N, P, S and U+0020. Controls, non-ASCII spaces,
/// line/paragraph separators, format characters, private use and noncharacters are not printable.
/// (Unassigned code points cannot be told apart without Unicode tables; they are kept.)
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || (0x7f..=0x9f).contains(&u) {
        return false;
    }
    !matches!(u,
        0xa0 | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x1680 | 0x180e
        | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000 | 0xd800..=0xdfff
        | 0xe000..=0xf8ff | 0xfdd0..=0xfdef | 0xfeff | 0xfff9..=0xfffb | 0x110bd | 0x110cd | 0x13430..=0x1343f
        | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..=0x10ffff)
        && (u & 0xfffe) != 0xfffe
}

/// R8.1: Go `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_quoted(&mut out, s);
    out
}

/// [`go_quote`] appended to `out` (printable ASCII without `"` / `\\`, the usual name, is
/// copied as is).
fn push_go_quoted(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
}

/// The reason (HTTP `detail`) for a denial.
pub fn reason_text(reason: &Reason, user: &User) -> String {
    reason_text_of(reason, &user.name, user.groups.iter().map(String::as_str))
}

/// [`reason_text`] for a user given by borrowed name and groups (no owned `User` per check).
pub fn reason_text_of<'g>(
    reason: &Reason,
    name: &str,
    groups: impl IntoIterator<Item = &'g str>,
) -> String {
    let q = || {
        // R8.1: `User.String()` = name + "/" + join(groups, ","), then Go-quoted.
        let mut rendered = String::with_capacity(name.len() + 32);
        rendered.push_str(name);
        rendered.push('/');
        for (i, g) in groups.into_iter().enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            rendered.push_str(g);
        }
        go_quote(&rendered)
    };
    match reason {
        Reason::CannotAccessResource => format!("user {} cannot access the resource", q()),
        Reason::ResourceOfType(t) => format!(
            "user {} cannot access the resource of type {}",
            q(),
            go_quote(t)
        ),
        Reason::DataplaneToken => format!("user {} cannot access generate dataplane token", q()),
        Reason::ZoneToken(zone) => format!(
            "user {} cannot access generate zone token for zone '{zone}'",
            q()
        ),
        Reason::UserToken => "action not allowed".to_string(),
        Reason::EnvoyProxyInfo => format!("user {} cannot access envoy proxy info", q()),
        Reason::ZoneCpToken => format!(
            "user {} cannot access generate zone control plane token",
            q()
        ),
    }
}

/// R8.3 / R8.4: the text the user sees on `channel`.
pub fn denial_text(channel: Channel, reason: &str) -> String {
    match channel {
        Channel::Api => format!("Access Denied ({reason})"),
        Channel::KubernetesWebhook => format!("access denied: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r8_3_api_text() {
        let u = User::new("john", &["team-a", "team-b", "mesh-system:authenticated"]);
        assert_eq!(
            denial_text(
                Channel::Api,
                &reason_text(&Reason::CannotAccessResource, &u)
            ),
            r#"Access Denied (user "john/team-a,team-b,mesh-system:authenticated" cannot access the resource)"#
        );
    }

    #[test]
    fn r8_4_webhook_text() {
        let u = User::new("jane", &["system:authenticated"]);
        assert_eq!(
            denial_text(
                Channel::KubernetesWebhook,
                &reason_text(&Reason::CannotAccessResource, &u)
            ),
            r#"access denied: user "jane/system:authenticated" cannot access the resource"#
        );
    }

    #[test]
    fn r8_6_static_texts() {
        let u = User::new("bo", &["g"]);
        assert_eq!(reason_text(&Reason::UserToken, &u), "action not allowed");
        assert_eq!(
            reason_text(&Reason::ResourceOfType("Secret".into()), &u),
            r#"user "bo/g" cannot access the resource of type "Secret""#
        );
        assert_eq!(
            reason_text(&Reason::ZoneToken("east".into()), &u),
            r#"user "bo/g" cannot access generate zone token for zone 'east'"#
        );
    }

    #[test]
    fn r8_1_go_quote() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("a\nb\t\x07\x7f"), r#""a\nb\t\a\x7f""#);
        assert_eq!(go_quote("é/ü,日本"), "\"é/ü,日本\"");
        assert_eq!(
            go_quote("\u{a0}\u{200b}\u{feff}"),
            r#""\u00a0\u200b\ufeff""#
        );
        assert_eq!(go_quote("\u{10ffff}"), r#""\U0010ffff""#);
        assert_eq!(go_quote("\x00\x1b"), r#""\x00\x1b""#);
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
    }
}
