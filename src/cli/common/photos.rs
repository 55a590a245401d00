//! A folder of photos as the commands read it: with a progress bar, each file left out named.

use super::paths::text_name;
#[cfg(feature = "train")]
use super::{bad_input, progress_bar};

/// A folder's photos for training or copy detection ([`imsat_data::photos::read_photo_folder`]),
/// with a progress bar when `show`, and each file left out named on stderr.
#[cfg(feature = "train")]
pub fn read_photos(
    dir: &std::path::Path,
    show: bool,
) -> anyhow::Result<imsat_data::photos::PhotoFolder> {
    // Made at the first photo, when the count is known: a bar of length 0 drawn while the
    // folder is listed would show `0/0` full.
    let reading = std::sync::OnceLock::new();
    let folder = imsat_data::photos::read_photo_folder(dir, &|n| {
        reading
            .get_or_init(|| progress_bar(n as u64, "reading", show))
            .inc(1);
    })
    .map_err(|e| bad_input(e.to_string()))?;
    if let Some(bar) = reading.get() {
        bar.finish_and_clear();
    }
    report_skipped(&folder.skipped);
    report_ignored(&folder.ignored);
    Ok(folder)
}

/// Name on stderr each file of a folder that was left out, with why (undecodable photos).
/// A name with a line break or other control character is quoted ([`text_name`]): printed
/// as it is, it would add lines that read as other skips.
pub fn report_skipped(skipped: &[(std::path::PathBuf, String)]) {
    for (p, why) in skipped {
        errln!(
            "imsat: skipped {}: {why}",
            text_name(&p.display().to_string())
        );
    }
}

/// Say on stderr how many files of a folder were not read for want of an image extension,
/// and the first (a camera's raw files, a README): every command that reads a folder says so.
pub fn report_ignored(ignored: &[std::path::PathBuf]) {
    if let [first, ..] = ignored {
        let n = ignored.len();
        errln!(
            "imsat: note: {n} file{} without an image extension not read (first: {}); images \
             are read by name: {}",
            if n == 1 { "" } else { "s" },
            text_name(&first.display().to_string()),
            imsat_data::photos::PHOTO_EXTENSIONS.join(", ")
        );
    }
}
