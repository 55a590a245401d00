//! `imsat index`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// `build` (from a model and images) or `import` (raw u64 codes).
    pub action: String,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::not_yet("index")
}
