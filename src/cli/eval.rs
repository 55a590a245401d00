//! `imsat eval`.

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::not_yet("eval")
}
