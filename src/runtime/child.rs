//! The block process: what `framewire` does when the supervisor re-executes
//! it for one block.
//!
//! The supervisor passes the block's name, type, parameters and its wires'
//! segment names in the environment (see [`ENV_BLOCK`] and friends).

use std::collections::BTreeMap;

use framewire_sdk::block::{BlockError, Context, Registry, Setup, Step};
use framewire_sys::proc::{die_with_parent, signals};

/// Block name.
pub const ENV_BLOCK: &str = "FRAMEWIRE_BLOCK";
/// Block type.
pub const ENV_TYPE: &str = "FRAMEWIRE_TYPE";
/// Parameters as a TOML table.
pub const ENV_PARAMS: &str = "FRAMEWIRE_PARAMS";
/// Connected inputs: `port=segment` separated by `,`.
pub const ENV_INPUTS: &str = "FRAMEWIRE_INPUTS";
/// Connected outputs: `port=segment` separated by `,`.
pub const ENV_OUTPUTS: &str = "FRAMEWIRE_OUTPUTS";
/// The supervisor's pid, to detect that it died before we asked to die with it.
pub const ENV_SUPERVISOR: &str = "FRAMEWIRE_SUPERVISOR_PID";

/// Encodes a port map for the environment.
pub fn encode_ports(m: &BTreeMap<String, String>) -> String {
    m.iter().map(|(p, s)| format!("{p}={s}")).collect::<Vec<_>>().join(",")
}

fn decode_ports(s: &str) -> BTreeMap<String, String> {
    s.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn var(k: &str) -> Result<String, BlockError> {
    std::env::var(k)
        .map_err(|_| BlockError::Config(format!("{k} is not set: `framewire block` is started by `framewire run`")))
}

/// Runs one block until it finishes or a termination signal arrives.
pub fn run(reg: &Registry) -> Result<(), BlockError> {
    // Die with the supervisor, and catch the case where it died before prctl.
    die_with_parent().map_err(|e| BlockError::Other(format!("prctl(PR_SET_PDEATHSIG): {e}")))?;
    if let Ok(sup) = std::env::var(ENV_SUPERVISOR)
        && nix::unistd::getppid().as_raw().to_string() != sup
    {
        return Err(BlockError::Other("the supervisor is gone".into()));
    }
    signals::catch_termination().map_err(|e| BlockError::Other(format!("sigaction: {e}")))?;
    let name = var(ENV_BLOCK)?;
    let type_name = var(ENV_TYPE)?;
    let params: toml::Table =
        toml::from_str(&var(ENV_PARAMS)?).map_err(|e| BlockError::Config(format!("parameters: {e}")))?;
    let inputs = decode_ports(&std::env::var(ENV_INPUTS).unwrap_or_default());
    let outputs = decode_ports(&std::env::var(ENV_OUTPUTS).unwrap_or_default());
    let spec = reg.get(&type_name).ok_or_else(|| BlockError::Config(format!("unknown block type {type_name}")))?;
    let mut setup = Setup::new(&name, inputs, outputs);
    let mut block = (spec.open)(&params, &mut setup)?;
    let mut cx = Context::new(&name, &signals::STOP);
    let result = loop {
        if cx.should_stop() {
            break Ok(());
        }
        match block.step(&mut cx) {
            Ok(Step::Done) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    // Stop even after an error: a motor driver commands zero here.
    let stopped = block.stop(&mut cx);
    result.and(stopped)
}
