//! `${VAR}` in connection URLs, read from the environment, so a password
//! never has to be written in a file.

use super::error::ConfigError;

/// Replaces `${VAR}` with the environment variable's value.
pub(crate) fn expand_env(url: &str, target: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(ConfigError::UnterminatedEnv {
                target: target.to_owned(),
            });
        };
        let var = &after[..end];
        let value = std::env::var(var).map_err(|_| ConfigError::MissingEnv {
            target: target.to_owned(),
            var: var.to_owned(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
