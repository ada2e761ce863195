//! What the soak's client was told: acknowledged creates and deletes, deletes
//! whose outcome is unknown, and foreign notes seen in answers. Checked
//! afterwards against each tenant's rows, read directly from its database.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

/// Every note body starts with its tenant's name and this separator, so a row
/// or an answer holding another tenant's note is recognised.
pub const SEPARATOR: char = '/';

/// The body of the `seq`th note of worker `worker` for `tenant`.
pub fn note_body(tenant: &str, worker: usize, seq: u64) -> String {
    format!("{tenant}{SEPARATOR}{worker}{SEPARATOR}{seq}")
}

/// Whether `body` belongs to `tenant`.
pub fn belongs_to(body: &str, tenant: &str) -> bool {
    body.strip_prefix(tenant)
        .is_some_and(|rest| rest.starts_with(SEPARATOR))
}

#[derive(Default)]
struct Tenant {
    /// Acknowledged creates (201), by id.
    created: BTreeMap<i64, String>,
    /// Acknowledged deletes (204).
    deleted: BTreeSet<i64>,
    /// Deletes answered otherwise (503, a timeout): they may have happened.
    maybe_deleted: BTreeSet<i64>,
}

/// The client's history, shared by every worker.
#[derive(Default)]
pub struct History {
    tenants: Mutex<HashMap<String, Tenant>>,
    foreign_in_answers: Mutex<Vec<String>>,
}

/// A tenant's rows compared with the history.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// Rows read.
    pub rows: usize,
    /// Acknowledged creates missing (not deleted by an acknowledged or
    /// possible delete).
    pub lost: Vec<i64>,
    /// Acknowledged deletes whose row is back.
    pub resurrected: Vec<i64>,
    /// Rows holding another tenant's note.
    pub foreign: Vec<String>,
}

impl Check {
    /// Nothing lost, resurrected or foreign.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty() && self.resurrected.is_empty() && self.foreign.is_empty()
    }
}

impl History {
    fn with<T>(&self, tenant: &str, f: impl FnOnce(&mut Tenant) -> T) -> T {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        f(tenants.entry(tenant.to_owned()).or_default())
    }

    /// A create answered 201 with `id`.
    pub fn created(&self, tenant: &str, id: i64, body: String) {
        self.with(tenant, |t| t.created.insert(id, body));
    }

    /// A delete answered 204.
    pub fn deleted(&self, tenant: &str, id: i64) {
        self.with(tenant, |t| t.deleted.insert(id));
    }

    /// A delete answered neither 204 nor 404: it may have happened.
    pub fn maybe_deleted(&self, tenant: &str, id: i64) {
        self.with(tenant, |t| t.maybe_deleted.insert(id));
    }

    /// An id of `tenant` acknowledged and not deleted, chosen by `pick` among
    /// them (for reads and deletes by id).
    pub fn live_id(&self, tenant: &str, pick: impl FnOnce(usize) -> usize) -> Option<i64> {
        self.with(tenant, |t| {
            let live: Vec<i64> = t
                .created
                .keys()
                .filter(|id| !t.deleted.contains(id) && !t.maybe_deleted.contains(id))
                .copied()
                .collect();
            (!live.is_empty()).then(|| live[pick(live.len())])
        })
    }

    /// An answer for `tenant` held a note of another tenant.
    pub fn foreign_answer(&self, tenant: &str, body: &str) {
        self.foreign_in_answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{tenant} was shown {body:?}"));
    }

    /// The foreign notes seen in answers.
    pub fn foreign_answers(&self) -> Vec<String> {
        self.foreign_in_answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Acknowledged creates and deletes, in all.
    pub fn counts(&self) -> (usize, usize) {
        let tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        tenants.values().fold((0, 0), |(c, d), t| {
            (c + t.created.len(), d + t.deleted.len())
        })
    }

    /// Compares `tenant`'s rows, read directly, with what the client was told.
    pub fn check(&self, tenant: &str, rows: &[(i64, String)]) -> Check {
        let present: BTreeMap<i64, &String> = rows.iter().map(|(id, b)| (*id, b)).collect();
        self.with(tenant, |t| Check {
            rows: rows.len(),
            lost: t
                .created
                .keys()
                .filter(|id| {
                    !present.contains_key(id)
                        && !t.deleted.contains(id)
                        && !t.maybe_deleted.contains(id)
                })
                .copied()
                .collect(),
            resurrected: t
                .deleted
                .iter()
                .filter(|id| present.contains_key(id))
                .copied()
                .collect(),
            foreign: rows
                .iter()
                .filter(|(_, body)| !belongs_to(body, tenant))
                .map(|(id, body)| format!("{id}: {body}"))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_finds_lost_resurrected_and_foreign_rows() {
        let h = History::default();
        h.created("a", 1, note_body("a", 0, 1));
        h.created("a", 2, note_body("a", 0, 2));
        h.created("a", 3, note_body("a", 0, 3));
        h.created("a", 4, note_body("a", 0, 4));
        h.deleted("a", 2);
        h.maybe_deleted("a", 4);
        let rows = vec![
            (2, note_body("a", 0, 2)),
            (3, note_body("a", 0, 3)),
            (9, note_body("ab", 1, 1)),
        ];
        let check = h.check("a", &rows);
        assert_eq!(check.lost, [1]);
        assert_eq!(check.resurrected, [2]);
        assert_eq!(check.foreign, ["9: ab/1/1"]);
        assert!(!check.is_clean());
        assert!(belongs_to("a/1/2", "a") && !belongs_to("ab/1/2", "a"));
    }
}
