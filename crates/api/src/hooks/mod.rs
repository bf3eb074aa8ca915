//! Webhook triggers: who may call a hook ([`verify`]) and what a request makes of the
//! trigger's templates ([`evaluate`]).

mod verify;

pub use verify::{Refused, verify};
