//! Turning kernel addresses into names: callback functions into their owning driver.

mod kallsyms;
mod owners;

pub use kallsyms::{KernelSymbols, Symbol};
pub use owners::{KNOWN_CALLBACKS, driver_of};
