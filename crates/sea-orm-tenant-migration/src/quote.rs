//! Quoting for SQL text that cannot take parameters (DDL, `COPY`): names
//! as identifiers (PostgreSQL's and MySQL's), values as string literals (`standard_conforming_strings`
//! is on, the default since PostgreSQL 9.1).

/// `name` as a quoted identifier: `"` doubled.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `name` as a MySQL/MariaDB identifier: backticks doubled.
pub(crate) fn mysql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `value` as a string literal: `'` doubled.
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote() {
        assert_eq!(ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(mysql_ident("a`b"), "`a``b`");
    }
}
