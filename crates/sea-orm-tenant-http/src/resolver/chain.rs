//! A chain's answers: the names its sources gave, checked to agree, and why
//! resolution stopped.

use std::borrow::Cow;

use http::Uri;

use super::ConflictPolicy;
use crate::rejection::TenantRejection;

/// The names a chain's sources gave so far.
pub(super) struct Chain<'r> {
    policy: ConflictPolicy,
    pub(super) found: Option<Found<'r>>,
}

impl<'r> Chain<'r> {
    pub(super) fn new(policy: ConflictPolicy) -> Self {
        Self {
            policy,
            found: None,
        }
    }

    /// Adds a source's answer; `false` when the rest need not be consulted.
    pub(super) fn add<E>(&mut self, candidate: Option<Found<'r>>) -> Result<bool, Rejected<E>> {
        let Some(candidate) = candidate else {
            return Ok(true);
        };
        let Some(first) = &mut self.found else {
            self.found = Some(candidate);
            return Ok(self.policy != ConflictPolicy::FirstWins);
        };
        if first.name != candidate.name {
            return Err(Rejected::Tenant(TenantRejection::conflict(
                &first.from,
                &first.name,
                &candidate.from,
                &candidate.name,
            )));
        }
        if first.rewrite.is_none() {
            first.rewrite = candidate.rewrite;
        }
        Ok(true)
    }
}

/// A tenant name found in a request; borrowed from it when it needed no decoding.
#[derive(Debug)]
pub struct Found<'r> {
    /// The raw name, not yet validated.
    pub name: Cow<'r, str>,
    /// The source that gave it, for error messages; borrowed from the
    /// resolver (no reference count touched per request).
    pub from: Cow<'r, str>,
    /// The URI the inner service should see (path-segment resolver); boxed,
    /// so that the common case moves a pointer, not a URI.
    pub rewrite: Option<Box<Uri>>,
}

/// Why resolution stopped.
#[derive(Debug)]
pub enum Rejected<E> {
    /// A tenant rejection (conflict).
    Tenant(TenantRejection),
    /// An error returned by a custom resolver, answered as is.
    Custom(E),
}

impl<E> Rejected<E> {
    /// The tenant rejection; `None` for a custom resolver's error.
    pub fn into_tenant(self) -> Option<TenantRejection> {
        match self {
            Self::Tenant(rejection) => Some(rejection),
            Self::Custom(_) => None,
        }
    }
}

impl<'r> Found<'r> {
    pub(super) fn from(name: Cow<'r, str>, from: &'r str) -> Self {
        Self {
            name,
            from: Cow::Borrowed(from),
            rewrite: None,
        }
    }

    /// The same, owning its name, for keeping past the request's borrow.
    pub fn into_owned(self) -> Found<'static> {
        Found {
            name: Cow::Owned(self.name.into_owned()),
            from: Cow::Owned(self.from.into_owned()),
            rewrite: self.rewrite,
        }
    }
}
