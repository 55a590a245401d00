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
    let reading = progress_bar(0, "reading", show);
    let folder = imsat_data::photos::read_photo_folder(dir, &|n| {
        reading.set_length(n as u64);
        reading.inc(1);
    })
    .map_err(|e| bad_input(e.to_string()))?;
    reading.finish_and_clear();
    report_skipped(&folder.skipped);
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
