//! A MySQL/MariaDB source sealed for good keeps its rows behind views: each
//! table is renamed `sot_kept_<hash>` and a view of its old name reads it.
//! Rows written through the view meet the seal's triggers (they move with
//! the table); what no trigger sees fails on a view: `TRUNCATE`,
//! `ALTER TABLE`, `DROP TABLE`. So every write to the old copy fails, as
//! on PostgreSQL, where the seal has a `TRUNCATE` trigger.

use crate::quote::mysql_ident;

/// The kept tables' prefix: a table with it is not put behind a view again.
pub(super) const KEPT_PREFIX: &str = "sot_kept_";

/// A hash of `table`'s name, for names of at most 64 characters derived
/// from names of up to 64.
pub(super) fn name_hash(table: &str) -> u64 {
    table.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The name `table` is kept under.
fn kept_name(table: &str) -> String {
    format!("{KEPT_PREFIX}{:016x}", name_hash(table))
}

/// The statements that put `tables` (those not kept already) behind views:
/// one `RENAME TABLE` for all of them (atomic), then a view for each.
/// `None` when there is none to put.
pub(super) fn behind_views_sql(tables: &[String]) -> Option<String> {
    let tables: Vec<&String> = tables
        .iter()
        .filter(|t| !t.starts_with(KEPT_PREFIX))
        .collect();
    if tables.is_empty() {
        return None;
    }
    let renames: Vec<String> = tables
        .iter()
        .map(|t| format!("{} TO {}", mysql_ident(t), mysql_ident(&kept_name(t))))
        .collect();
    let mut sql = format!("RENAME TABLE {};", renames.join(", "));
    for table in tables {
        // MERGE: writes through the view reach the table and its triggers.
        sql.push_str(&format!(
            " CREATE ALGORITHM = MERGE SQL SECURITY INVOKER VIEW {} AS SELECT * FROM {};",
            mysql_ident(table),
            mysql_ident(&kept_name(table))
        ));
    }
    Some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_tables_are_not_put_behind_views_again() {
        let sql = behind_views_sql(&["items".into(), kept_name("tags")]).unwrap();
        assert_eq!(sql.matches("CREATE").count(), 1, "{sql}");
        assert!(
            sql.contains(&format!("`items` TO `{}`", kept_name("items"))),
            "{sql}"
        );
        assert_eq!(behind_views_sql(&[kept_name("items")]), None);
        assert_eq!(behind_views_sql(&[]), None);
    }

    #[test]
    fn kept_names_fit_mysql_whatever_the_table() {
        let long = "t".repeat(64);
        assert!(kept_name(&long).len() <= 64);
        assert_ne!(kept_name("a"), kept_name("b"));
    }
}
