//! The `imsat` command line.
// Without `train` the helpers only the training commands call (labels, groups, agreement)
// are unused; the default build, which has them all, is where dead code is looked for.
#![cfg_attr(not(feature = "train"), allow(dead_code))]

mod cli;
mod codes_csv;
mod codes_npz;
mod faiss;
mod input;
mod npy;
mod plot;

use clap::{Parser, Subcommand};

/// Learn compact discrete codes (clusters or binary hashes) with IMSAT, and use them on device.
#[derive(Parser)]
#[command(name = "imsat", version, about, long_about = None)]
struct Cli {
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an IMSAT encoder (clustering or hashing) on images or .npy features and export it as ONNX.
    #[command(
        after_help = "Examples:\n  imsat train --task hash --bits 64 --data embeddings.npy --out runs/emb64\n  imsat train --task cluster --classes 10 \\\n    --data data/mnist10k/images-idx3-ubyte.gz --labels data/mnist10k/labels-idx1-ubyte.gz \\\n    --seed 0 --out runs/c0"
    )]
    #[cfg(feature = "train")]
    Train(Box<cli::train::Args>),
    /// Evaluate an exported model: on labelled data (accuracy/NMI or retrieval mAP), or a photo
    /// model on edited copies of a folder against pHash and dHash (--task copy-detection).
    #[command(
        after_help = "Examples:\n  imsat eval --model models/hash16.onnx \\\n    --data data/mnist10k/images-idx3-ubyte.gz --labels data/mnist10k/labels-idx1-ubyte.gz\n  imsat eval --task copy-detection --model models/photo64.int8.onnx \\\n    --reference models/photo64.onnx --data my_photos/"
    )]
    #[cfg(feature = "train")]
    Eval(cli::eval::Args),
    /// Encode images (or .npy features) into codes (hash) or cluster ids with an exported model.
    #[command(
        after_help = "Examples:\n  imsat encode --model models/hash16.onnx --data data/mnist10k/images-idx3-ubyte.gz --out codes.u64\n  imsat encode --model runs/emb64/model.onnx --data embeddings.npy --out codes.npy"
    )]
    Encode(cli::encode::Args),
    /// Build, import, export, remove rows from or describe a Hamming index file (faiss
    /// IndexBinaryFlat, .npy codes).
    #[command(
        after_help = "Examples:\n  imsat index build --model models/hash32.onnx --data data/mnist10k/images-idx3-ubyte.gz --out mnist.idx\n  imsat index build --model models/photo64.int8.onnx --data my_photos/ --out photos.idx --append\n  imsat index export --index mnist.idx --format faiss --out mnist.faiss\n  imsat index import --faiss mnist.faiss --out mnist.idx"
    )]
    Index(cli::index::Args),
    /// k-NN or radius search over an index, by codes or by images (--query, with the model
    /// that built the index: the answers name their files).
    #[command(
        after_help = "Examples:\n  imsat search --index mnist.idx --queries-raw-u64 queries.u64 -k 10 --json\n  imsat index build --model models/photo64.int8.onnx --data my_photos/ --out photos.idx\n  imsat search --index photos.idx --model models/photo64.int8.onnx --query new.jpg --copies"
    )]
    Search(cli::search::Args),
    /// Find groups of near-duplicate images in a folder.
    ///
    /// A plain picture (one colour, a blank frame), which a photo model gives one code whatever
    /// its colour, groups only with plain pictures of its colour.
    #[command(
        after_help = "Examples:\n  imsat dedup --model models/photo64.int8.onnx --sheet groups.png my_photos/\n  imsat dedup --model models/hash32.onnx --radius 2 digits/"
    )]
    Dedup(cli::dedup::Args),
    /// Run the whole pipeline on the bundled MNIST-10k and write a report.
    #[command(after_help = "Example:\n  imsat demo --out demo")]
    #[cfg(feature = "train")]
    Demo(cli::demo::Args),
}

/// The commands a build without the `train` feature leaves out.
#[cfg(not(feature = "train"))]
const TRAINER_COMMANDS: [&str; 3] = ["train", "eval", "demo"];

fn main() -> std::process::ExitCode {
    // Said plainly, rather than clap's "unrecognized subcommand", on a device build.
    #[cfg(not(feature = "train"))]
    if let Some(command) = std::env::args().skip(1).find(|a| !a.starts_with('-'))
        && TRAINER_COMMANDS.contains(&command.as_str())
    {
        eprintln!(
            "imsat: `{command}` needs the trainer, which this build leaves out \
             (--no-default-features: encode, index, search and dedup only); build imsat with its \
             default features for it"
        );
        return std::process::ExitCode::from(2);
    }
    let cli = Cli::parse();
    cli::common::interrupt::install();
    let ctx = cli::Ctx { quiet: cli.quiet };
    let result = match cli.command {
        #[cfg(feature = "train")]
        Command::Train(a) => cli::train::run(*a, &ctx),
        #[cfg(feature = "train")]
        Command::Eval(a) => cli::eval::run(a, &ctx),
        Command::Encode(a) => cli::encode::run(a, &ctx),
        Command::Index(a) => cli::index::run(a, &ctx),
        Command::Search(a) => cli::search::run(a, &ctx),
        Command::Dedup(a) => cli::dedup::run(a, &ctx),
        #[cfg(feature = "train")]
        Command::Demo(a) => cli::demo::run(a, &ctx),
    };
    cli::exit_code(result)
}
