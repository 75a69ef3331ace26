//! `spin:variables/variables@3.0.0` from the map the host was started with, checked
//! like Spin checks names (lower-case ASCII letters, digits and `_`, starting with a
//! letter), so a component that works here asks for names Spin accepts.

use crate::Ctx;
use crate::wit::spin::variables::variables as wit;
use anyhow::Result;
use wasmtime::component::{Accessor, HasData, Linker};

/// Marker type the async host function is implemented on.
pub struct SpinVariables;

impl HasData for SpinVariables {
    type Data<'a> = &'a mut Ctx;
}

pub fn add_to_linker(linker: &mut Linker<Ctx>) -> Result<()> {
    wit::add_to_linker::<Ctx, SpinVariables>(linker, |c| c)?;
    Ok(())
}

impl wit::Host for &mut Ctx {}

/// Whether Spin would accept `name` as a variable name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl<T> wit::HostWithStore<T> for SpinVariables {
    async fn get(a: &Accessor<T, Self>, name: String) -> Result<String, wit::Error> {
        if !valid_name(&name) {
            return Err(wit::Error::InvalidName(name));
        }
        a.with(|mut view| view.get().shared.variables.get(&name).cloned())
            .ok_or(wit::Error::Undefined(name))
    }
}
