//! [`Login`]: the login in a server URL, as client tools and connection
//! strings take it.

/// A server URL's host, port, user and password, percent-decoded, as a
/// client tool takes them.
pub(crate) struct Login {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
}

impl Login {
    pub(crate) fn of(url: &url::Url, default_port: u16) -> Self {
        Self {
            host: url.host_str().unwrap_or("localhost").to_owned(),
            port: url.port().unwrap_or(default_port),
            user: Some(decode(url.username())).filter(|u| !u.is_empty()),
            password: url.password().map(decode),
        }
    }
}

/// A percent-encoded URL part, decoded.
pub(crate) fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}
