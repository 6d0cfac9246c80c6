//! `behalf operators invite NAME`: a new operator (or another passkey for one) and the
//! one-time link that enrolls it. The link lasts 15 minutes; the store keeps only its hash.
//! The token rides in the URL's fragment, which browsers never send to a server or in a
//! Referer, so it reaches only the enrollment page's script.

use behalf_core::time::Millis;
use behalf_store::operators::{OperatorRow, OperatorStore};
use behalf_store::StoreError;

use crate::operators::passkeys::ENROLL_PREFIX;
use crate::operators::secrets;

pub const LINK_LIFETIME_MS: Millis = 15 * 60_000;

pub struct Invitation {
    pub operator: OperatorRow,
    /// Whether the operator was made by this invitation (else it adds a passkey).
    pub new: bool,
    pub link: String,
    pub expires_at: Millis,
}

/// Operator names: what a person is called on the dashboard and in the audit log.
pub fn valid_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-' | '@'))
        && !name.starts_with(' ')
        && !name.ends_with(' ');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an operator name: 1 to 64 letters, digits, spaces, `.`, `_`, `-` or `@`"
        ))
    }
}

pub enum InviteError {
    Name(String),
    Random(String),
    Store(StoreError),
}

/// Invites `name` at the dashboard served from `public_url` (`http://localhost:7777`).
pub fn invite(
    store: &mut impl OperatorStore,
    name: &str,
    public_url: &str,
    now: Millis,
) -> Result<Invitation, InviteError> {
    valid_name(name).map_err(InviteError::Name)?;
    let random = |e: crate::error::ApiError| InviteError::Random(e.message);
    let (operator, new) = match store.operator_named(name).map_err(InviteError::Store)? {
        Some(o) => (o, false),
        None => {
            let id = secrets::fresh_id("op_").map_err(random)?;
            let o = store
                .create_operator(&id, name, now)
                .map_err(InviteError::Store)?;
            (o, true)
        }
    };
    let token = secrets::fresh(ENROLL_PREFIX).map_err(random)?;
    let expires_at = now + LINK_LIFETIME_MS;
    store
        .add_enrollment(&secrets::hash(&token), &operator.id, expires_at)
        .map_err(InviteError::Store)?;
    let base = public_url.trim_end_matches('/');
    Ok(Invitation {
        operator,
        new,
        link: format!("{base}/dashboard/enroll#{token}"),
        expires_at,
    })
}
