//! Keeping passwords in connection URLs out of logs, errors and `Debug` output.

use std::borrow::Cow;

const MASK: &str = "***";

/// Returns `url` with the password, if any, replaced by `***`.
///
/// Works on the text alone, so it also masks URLs that do not parse.
///
/// ```
/// use sea_orm_tenant::redact_url;
/// assert_eq!(redact_url("postgres://app:s3cret@db:5432/acme"), "postgres://app:***@db:5432/acme");
/// assert_eq!(redact_url("sqlite://data/acme.db"), "sqlite://data/acme.db");
/// ```
pub fn redact_url(url: &str) -> String {
    match password_span(url) {
        Some((start, end)) => format!("{}{MASK}{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    }
}

/// Byte range of the password inside `url`, if it has a non-empty one.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    (colon + 1 < at).then_some((authority_start + colon + 1, authority_start + at))
}

/// Removes every trace of `url`'s password from `message` (raw and percent-decoded),
/// for errors from drivers and tools that echo the URL back.
///
/// ```
/// use sea_orm_tenant::scrub;
/// let url = "postgres://app:p%40ss@db/acme";
/// assert_eq!(scrub("auth failed for p@ss", url), "auth failed for ***");
/// ```
pub fn scrub(message: &str, url: &str) -> String {
    let Some((start, end)) = password_span(url) else {
        return message.to_owned();
    };
    let raw = &url[start..end];
    let decoded: Cow<'_, str> = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let mut out = message.replace(raw, MASK);
    if decoded != raw && !decoded.is_empty() {
        out = out.replace(&*decoded, MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_only_the_password() {
        assert_eq!(
            redact_url("mysql://root:p%40ss@127.0.0.1:3306/x?ssl=1"),
            "mysql://root:***@127.0.0.1:3306/x?ssl=1"
        );
        assert_eq!(redact_url("mysql://root@h/x"), "mysql://root@h/x");
        assert_eq!(redact_url("mysql://root:@h/x"), "mysql://root:@h/x");
        assert_eq!(redact_url("postgres://u:a@b@h/x"), "postgres://u:***@h/x");
    }

    #[test]
    fn scrub_removes_raw_and_decoded_password() {
        let url = "postgres://u:p%40ss@h/db";
        let msg = "failed for postgres://u:p%40ss@h/db (password p@ss)";
        let out = scrub(msg, url);
        assert!(!out.contains("p%40ss") && !out.contains("p@ss"), "{out}");
    }
}
