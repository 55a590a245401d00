//! Ctrl-C, `kill` and a closed terminal end a command without its destructors: the files it
//! was writing (each a hidden temporary as large as its output) and a training run's staging
//! folder would stay behind, found by nobody. A thread waits for SIGINT, SIGTERM and SIGHUP,
//! removes them, and ends the process by the same signal, as the shell expects of a program
//! stopped with Ctrl-C (a script's loop stops too).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Folders a signal removes: runs' staging folders (whole), then the folders commands made
/// for their output (a run's folder among them), if empty.
struct Folders {
    staging: Vec<PathBuf>,
    /// Innermost first, in the order made.
    made: Vec<Vec<PathBuf>>,
}

static FOLDERS: Mutex<Folders> = Mutex::new(Folders {
    staging: Vec::new(),
    made: Vec::new(),
});

fn folders() -> MutexGuard<'static, Folders> {
    FOLDERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Set when a signal is caught: its thread is about to clean up and end the process.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// While a caught signal is being handled, wait for its thread to end the process: what
/// failed because the signal removed it (a staging folder, a temporary file) is not an error
/// to print, and the command is to end with the signal's status, not 1 or 0.
pub fn wait_if_stopping() {
    while STOPPING.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// Start the thread that cleans up on a signal. Without it (a platform with no such signals,
/// or handlers that cannot be set) a signal ends the process as before.
pub fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        // A signal the process was started to ignore stays ignored: `nohup` ignores SIGHUP,
        // a shell script's `&` job SIGINT, and a handler would make them end the run.
        let caught = [SIGINT, SIGTERM, SIGHUP]
            .into_iter()
            .filter(|&s| !ignored(s));
        let Ok(mut signals) = signal_hook::iterator::Signals::new(caught) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                STOPPING.store(true, Ordering::SeqCst);
                // Held until the process ends: a run's commit that waited for the cleanup
                // would find its staged files gone and remove the earlier run's as files this
                // run did not write.
                let (removed, _held) = remove_unfinished();
                if removed > 0 {
                    say(format!(
                        "imsat: stopped; removed {removed} unfinished file(s)"
                    ));
                }
                // Ends the process by the signal itself; the exit is for a signal that would
                // not (none of these three).
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    }
}

/// Print `line` on stderr, giving up after a moment: a full pipe blocks the write, a closed
/// one fails it (and `eprintln!` then panics), and neither may keep the process from ending.
#[cfg(unix)]
fn say(line: String) {
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{IsTerminal, Write as _};
        let mut err = std::io::stderr();
        // After a progress bar's line, on a line of its own.
        let start = if err.is_terminal() { "\n" } else { "" };
        let _ = writeln!(err, "{start}{line}");
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(std::time::Duration::from_millis(200));
}

/// Run `f` (the moves that put a run's files in place) with signals' cleanup held back until
/// it returns: removing the staging folder half-way through the moves would leave a run
/// without its model, the earlier one's removed as a file this run did not write.
pub fn held_back<T>(f: impl FnOnce() -> T) -> T {
    let _held = folders();
    f()
}

/// Whether `signal` is ignored (its disposition is SIG_IGN), as inherited from the parent.
#[cfg(unix)]
fn ignored(signal: i32) -> bool {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `old`, which is zeroed, valid
    // for writes and of the type sigaction expects.
    let read = unsafe { libc::sigaction(signal, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: zeroed is a valid sigaction (plain integers and pointers), filled in on success.
    read == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// Remove what a signal leaves unfinished: the temporary files of writes under way and every
/// staging folder. How many were removed, and the lock on the folders, for the caller to hold
/// until the process ends (no run commits, no folder is made after the cleanup).
fn remove_unfinished() -> (usize, MutexGuard<'static, Folders>) {
    let mut f = folders();
    let mut removed = imsat_runtime::atomic_file::remove_unfinished();
    for staging in f.staging.drain(..) {
        // A file the run writes meanwhile can make the first pass fail.
        if std::fs::remove_dir_all(&staging).is_ok() || std::fs::remove_dir_all(&staging).is_ok() {
            removed += 1;
        }
    }
    // The latest made first: they lie inside the earlier ones.
    for made in f.made.drain(..).rev() {
        remove_empty(&made);
    }
    (removed, f)
}

/// Remove the folders of `made` (innermost first) while they are empty.
pub fn remove_empty(made: &[PathBuf]) {
    for dir in made {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

/// Make the folder `dir` of a command's output with the parents it lacks; those made are
/// removed if a signal ends the process while they are empty. Returns them, innermost first.
pub fn make_output_folder(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let made: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect();
    let mut f = folders();
    std::fs::create_dir_all(dir)?;
    f.made.push(made.clone());
    Ok(made)
}

/// Make a run's staging folder, removed if a signal ends the process before
/// [`forget_staging`] (the run's folder, made by [`make_output_folder`], goes after it if
/// empty). None is made after a signal's cleanup, which holds the lock until the process ends.
pub fn make_staging(staging: &Path) -> std::io::Result<()> {
    let mut f = folders();
    std::fs::create_dir(staging)?;
    f.staging.push(staging.to_path_buf());
    Ok(())
}

/// The staging folder is committed or removed: no signal is to remove it now.
pub fn forget_staging(staging: &Path) {
    folders().staging.retain(|s| s != staging);
}
