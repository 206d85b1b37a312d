//! Which URLs `WebFetch` may fetch: the TypeScript validator's rules (http/https only, no
//! credentials in the URL, at most 2000 characters, a missing scheme means https, http is
//! upgraded to https), plus a stricter internal-address check.
//!
//! Internal targets are refused unless allowed (`tools.web.fetch.allowInternal`, or
//! [`UrlGuard::allow_internal`] in tests): `localhost`, `*.local`, `*.internal`, and every
//! loopback, private, link-local, unspecified, carrier-grade NAT and IPv6 unique-local
//! address, written literally (also as IPv4-mapped IPv6) or reached through DNS
//! ([`UrlGuard::check_resolved`]). An allowed internal target keeps its scheme (local test
//! servers rarely speak TLS); every other http URL is upgraded to https as upstream does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The longest URL accepted (upstream's `DEFAULT_MAX_LENGTH`).
pub const MAX_URL_LENGTH: usize = 2000;

/// Why a URL was refused: the upstream error code and a message for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRefusal {
    /// `INVALID_FORMAT`, `URL_TOO_LONG`, `INVALID_PROTOCOL`, `CREDENTIALS_IN_URL`,
    /// `INTERNAL_ADDRESS`, `DOMAIN_BLOCKED` or `DOMAIN_NOT_ALLOWED`.
    pub code: &'static str,
    /// What is wrong, naming the offending part.
    pub message: String,
}

impl std::fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The URL rules in force.
#[derive(Debug, Clone, Default)]
pub struct UrlGuard {
    /// Allow internal targets (loopback, private, link-local, `localhost`, ...).
    pub allow_internal: bool,
    /// Only these domains (and their subdomains), when not empty.
    pub allowed_domains: Vec<String>,
    /// Never these domains (and their subdomains); checked before `allowed_domains`.
    pub blocked_domains: Vec<String>,
}

fn refuse(code: &'static str, message: impl Into<String>) -> UrlRefusal {
    UrlRefusal { code, message: message.into() }
}

impl UrlGuard {
    /// The default rules: internal targets refused, no domain lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rules that allow internal targets (for tests against servers on 127.0.0.1).
    pub fn allowing_internal() -> Self {
        Self { allow_internal: true, ..Self::default() }
    }

    /// The normalised URL to fetch, or why `raw` is refused. Looks only at the text (no DNS).
    pub fn check(&self, raw: &str) -> Result<Url, UrlRefusal> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(refuse("INVALID_FORMAT", "URL cannot be empty"));
        }
        if trimmed.chars().count() > MAX_URL_LENGTH {
            return Err(refuse(
                "URL_TOO_LONG",
                format!("URL exceeds maximum length of {MAX_URL_LENGTH} characters"),
            ));
        }
        let with_scheme = if trimmed.contains("://") || has_scheme(trimmed) {
            trimmed.to_owned()
        } else {
            format!("https://{trimmed}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|_| refuse("INVALID_FORMAT", "Invalid URL format"))?;
        let scheme = url.scheme().to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(refuse(
                "INVALID_PROTOCOL",
                format!("Invalid protocol: {scheme}:. Only HTTP and HTTPS are allowed"),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("CREDENTIALS_IN_URL", "URLs with embedded credentials are not allowed"));
        }
        let host = url.host().ok_or_else(|| refuse("INVALID_FORMAT", "Invalid URL format: no host"))?;
        let internal = internal_host(&host);
        let hostname = host_text(&host);
        if internal && !self.allow_internal {
            return Err(refuse(
                "INTERNAL_ADDRESS",
                format!("Internal addresses are not allowed: {hostname}"),
            ));
        }
        self.check_domain(&hostname)?;
        if scheme == "http" && !internal {
            let _ = url.set_scheme("https");
        }
        if url.as_str().len() > MAX_URL_LENGTH {
            return Err(refuse(
                "URL_TOO_LONG",
                format!("Normalized URL exceeds maximum length of {MAX_URL_LENGTH} characters"),
            ));
        }
        Ok(url)
    }

    /// Refuses `host` when it resolved to an internal address and internal targets are not
    /// allowed (a public name pointing at 127.0.0.1 or 10.x is as internal as the address).
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<(), UrlRefusal> {
        if self.allow_internal {
            return Ok(());
        }
        match addrs.iter().find(|a| internal_ip(**a)) {
            Some(ip) => Err(refuse(
                "INTERNAL_ADDRESS",
                format!("Internal addresses are not allowed: {host} resolves to {ip}"),
            )),
            None => Ok(()),
        }
    }

    fn check_domain(&self, hostname: &str) -> Result<(), UrlRefusal> {
        if let Some(d) = self.blocked_domains.iter().find(|d| domain_matches(hostname, d)) {
            return Err(refuse("DOMAIN_BLOCKED", format!("Domain is blocked: {hostname} (matches {d})")));
        }
        if !self.allowed_domains.is_empty()
            && !self.allowed_domains.iter().any(|d| domain_matches(hostname, d))
        {
            return Err(refuse(
                "DOMAIN_NOT_ALLOWED",
                format!("Domain is not in the allowed list: {hostname}"),
            ));
        }
        Ok(())
    }
}

/// `scheme:` at the start of `s` (e.g. `file:/etc/passwd`, `javascript:...`), so that such
/// a URL is judged by its scheme rather than read as a host name.
fn has_scheme(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            let is_scheme = !scheme.is_empty()
                && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            // `example.com:8080/x` is a host and a port, not a scheme.
            is_scheme && !rest.chars().next().is_some_and(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn host_text(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => d.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    }
}

/// Whether `hostname` is `domain` or one of its subdomains (case-insensitive).
pub fn domain_matches(hostname: &str, domain: &str) -> bool {
    let h = hostname.to_ascii_lowercase();
    let d = domain.trim().trim_start_matches('.').to_ascii_lowercase();
    !d.is_empty() && (h == d || h.ends_with(&format!(".{d}")))
}

fn internal_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local") || d.ends_with(".internal")
        }
        Host::Ipv4(ip) => internal_v4(*ip),
        Host::Ipv6(ip) => internal_v6(*ip),
    }
}

/// Whether `ip` is loopback, private, link-local, unspecified, shared (CGNAT), broadcast
/// or unique-local: anything that is not a public internet address.
pub fn internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> &'static str {
        UrlGuard::new().check(raw).unwrap_err().code
    }

    #[test]
    fn public_urls_pass_and_http_is_upgraded() {
        assert_eq!(
            UrlGuard::new().check("http://example.com/a?b=1").unwrap().as_str(),
            "https://example.com/a?b=1"
        );
        assert_eq!(UrlGuard::new().check("example.com/x").unwrap().as_str(), "https://example.com/x");
        assert_eq!(
            UrlGuard::new().check("example.com:8443/x").unwrap().as_str(),
            "https://example.com:8443/x"
        );
    }

    #[test]
    fn internal_and_odd_targets_are_refused_by_default() {
        for raw in [
            "http://localhost/",
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://printer.local/",
            "http://db.internal/",
            "http://100.64.0.1/",
        ] {
            assert_eq!(code(raw), "INTERNAL_ADDRESS", "{raw}");
        }
        assert_eq!(code("file:///etc/passwd"), "INVALID_PROTOCOL");
        assert_eq!(code("file:/etc/passwd"), "INVALID_PROTOCOL");
        assert_eq!(code("ftp://example.com/"), "INVALID_PROTOCOL");
        assert_eq!(code("https://user:pw@example.com/"), "CREDENTIALS_IN_URL");
        assert_eq!(code(""), "INVALID_FORMAT");
        assert_eq!(code(&format!("https://example.com/{}", "a".repeat(2000))), "URL_TOO_LONG");
    }

    #[test]
    fn internal_targets_pass_when_allowed_and_keep_http() {
        let url = UrlGuard::allowing_internal().check("http://127.0.0.1:9/x").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/x");
    }

    #[test]
    fn resolved_addresses_are_checked_too() {
        let g = UrlGuard::new();
        assert!(g.check_resolved("evil.example", &["10.0.0.1".parse().unwrap()]).is_err());
        assert!(g.check_resolved("ok.example", &["93.184.216.34".parse().unwrap()]).is_ok());
        assert!(UrlGuard::allowing_internal().check_resolved("x", &["127.0.0.1".parse().unwrap()]).is_ok());
    }

    #[test]
    fn domain_lists_apply_to_subdomains() {
        let g = UrlGuard { blocked_domains: vec!["bad.com".into()], ..UrlGuard::new() };
        assert_eq!(g.check("https://www.bad.com/").unwrap_err().code, "DOMAIN_BLOCKED");
        let g = UrlGuard { allowed_domains: vec!["docs.rs".into()], ..UrlGuard::new() };
        assert!(g.check("https://docs.rs/x").is_ok());
        assert_eq!(g.check("https://crates.io/").unwrap_err().code, "DOMAIN_NOT_ALLOWED");
    }
}
