//! Everything between the kernel and the event stream: the layout from BTF, the attach plan,
//! loading and attaching, and the capability checks that explain what cannot work and why.

pub mod attach;
pub mod callbacks;
pub mod cost;
pub mod filter;
pub mod layout;
pub mod plan;
pub mod preflight;
pub mod skips;
pub mod stacks;
pub mod tracefs;
pub mod walk;

pub use attach::Probes;
pub use plan::Mode;
