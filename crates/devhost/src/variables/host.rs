//! The `fermyon:spin/variables` host functions over the component's resolved values.

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::fermyon::spin::variables::{self, Error};
use crate::state::HostState;

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, Error> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Err(Error::InvalidName(name));
        }
        self.component
            .variables
            .get(&name)
            .cloned()
            .ok_or(Error::Undefined(name))
    }
}

/// Adds `fermyon:spin/variables` to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    Ok(variables::add_to_linker::<HostState, HasSelf<HostState>>(
        linker,
        |s| s,
    )?)
}
