//! API tokens and roles, with no database: what a token looks like, how it is hashed, and what
//! each role may do. The HTTP layer asks [`Role::allows`] before it acts.
//!
//! A token is `rbk_` and 64 lowercase hexadecimal digits: 32 bytes from the operating system's
//! CSPRNG (through `rand`'s thread generator, seeded from it). The store keeps the SHA-256 of
//! the whole token text, never the token.
//!
//! Why a fast hash is enough: a slow hash (argon2, bcrypt) protects *guessable* secrets such
//! as passwords, where an attacker holding the hashes can try likely candidates. A token
//! carries 256 random bits: nobody holding its hash can search that space, however fast each
//! try is, and SHA-256 has no known preimage attack. A fast hash also lets the store look a
//! presented token up by its hash (an index) instead of trying every stored hash in turn.
//! The lookup's timing can at most tell an attacker something about the *hash* of what they
//! sent, which does not help them find a token; the final equality check is done in constant
//! time all the same ([`hashes_match`]), so no comparison of secret material leaks through
//! time.

use std::fmt;
use std::str::FromStr;

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// What every token starts with: recognisable in a leaked log or a secret scanner.
pub const TOKEN_PREFIX: &str = "rbk_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// What a token holder may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read runs, events, approvals, playbooks, schedules.
    Read,
    /// Start a run (the API's `POST /api/v1/runs`).
    StartRun,
    /// Cancel a run.
    CancelRun,
    /// Approve or deny a waiting approval.
    DecideApproval,
    /// Read the audit log.
    ReadAudit,
    /// Create and revoke tokens.
    ManageTokens,
}

/// A token's role. Every role reads; `operator` also starts and cancels runs, `approver`
/// decides approvals, `admin` may do everything (the audit log and tokens included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Approver,
    Admin,
}

impl Role {
    /// Every role, in the order the CLI lists them.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    /// Whether a holder of this role may do `action`.
    pub fn allows(self, action: Action) -> bool {
        match self {
            Role::Admin => true,
            Role::Viewer => action == Action::Read,
            Role::Operator => matches!(action, Action::Read | Action::StartRun | Action::CancelRun),
            Role::Approver => matches!(action, Action::Read | Action::DecideApproval),
        }
    }

    /// The role as the store and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A role name that is none of `viewer`, `operator`, `approver`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "unknown role `{}`; expected viewer, operator, approver or admin",
            self.0
        )
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

/// A new token: `rbk_` and 64 hexadecimal digits of fresh random bytes.
pub fn generate_token() -> String {
    random_secret(TOKEN_PREFIX)
}

/// `prefix` and 64 hexadecimal digits of fresh random bytes (tokens, console sessions).
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0_u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let mut secret = String::with_capacity(prefix.len() + 2 * TOKEN_BYTES);
    secret.push_str(prefix);
    secret.push_str(&to_hex(&bytes));
    secret
}

/// Whether `text` has a token's form (prefix, length, lowercase hex). Anything else is
/// refused before the store is asked.
pub fn looks_like_token(text: &str) -> bool {
    has_secret_form(text, TOKEN_PREFIX)
}

/// Whether `text` is `prefix` and 64 lowercase hexadecimal digits.
pub(crate) fn has_secret_form(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|digits| {
        digits.len() == 2 * TOKEN_BYTES
            && digits
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
}

/// The SHA-256 of the token's text, as lowercase hex: what the store keeps.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token)
}

/// The SHA-256 of `text`, as lowercase hex (tokens, and the keys of keyed enqueues).
pub(crate) fn sha256_hex(text: &str) -> String {
    to_hex(&Sha256::digest(text.as_bytes()))
}

/// Compares two hashes in constant time (for equal lengths; lengths are not secret).
pub fn hashes_match(stored: &str, computed: &str) -> bool {
    stored.as_bytes().ct_eq(computed.as_bytes()).into()
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_ACTIONS: [Action; 6] = [
        Action::Read,
        Action::StartRun,
        Action::CancelRun,
        Action::DecideApproval,
        Action::ReadAudit,
        Action::ManageTokens,
    ];

    fn allowed(role: Role) -> Vec<Action> {
        ALL_ACTIONS
            .into_iter()
            .filter(|action| role.allows(*action))
            .collect()
    }

    #[test]
    fn each_role_allows_exactly_its_actions() {
        assert_eq!(allowed(Role::Viewer), [Action::Read]);
        assert_eq!(
            allowed(Role::Operator),
            [Action::Read, Action::StartRun, Action::CancelRun]
        );
        assert_eq!(
            allowed(Role::Approver),
            [Action::Read, Action::DecideApproval]
        );
        assert_eq!(allowed(Role::Admin), ALL_ACTIONS);
    }

    #[test]
    fn roles_round_trip_through_their_names_and_others_are_refused() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        let error = "Admin".parse::<Role>().expect_err("names are lowercase");
        assert!(
            error.to_string().contains("unknown role `Admin`"),
            "{error}"
        );
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_token_is_the_prefix_and_64_hex_digits_and_never_repeats() {
        let first = generate_token();
        let second = generate_token();
        assert_eq!(first.len(), 4 + 64);
        assert!(first.starts_with("rbk_"), "{first}");
        assert!(looks_like_token(&first), "{first}");
        assert_ne!(first, second);
    }

    #[test]
    fn only_the_token_form_is_recognised() {
        let token = generate_token();
        assert!(!looks_like_token(&token[..token.len() - 1]));
        assert!(!looks_like_token(&format!("{token}0")));
        assert!(!looks_like_token(&token.to_uppercase()));
        assert!(!looks_like_token(&token.replace("rbk_", "rbx_")));
        assert!(!looks_like_token(&format!("rbk_{}", "g".repeat(64))));
        assert!(!looks_like_token(""));
    }

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let token = generate_token();
        assert_eq!(token_hash(&token), token_hash(&token));
        assert!(!token_hash(&token).contains(&token[4..]));
    }

    #[test]
    fn hashes_match_only_when_equal() {
        let hash = token_hash("one");
        assert!(hashes_match(&hash, &token_hash("one")));
        assert!(!hashes_match(&hash, &token_hash("two")));
        assert!(!hashes_match(&hash, &hash[..63]));
    }
}
