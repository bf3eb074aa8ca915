//! Webhook triggers: who may call a hook ([`verify`]) and what a request makes of the
//! trigger's templates ([`evaluate`]).

mod evaluate;
pub mod handler;
mod verify;

pub use evaluate::{Outcome, Request, TemplateProblem, Unfit, evaluate};
pub use verify::{Refused, verify};
