//! The view's metadata text (`imsat.view`), e.g.
//! `ycc-area-16x16-robust+centre75+top80+bottom80+unbox`.

use alloc::format;
use alloc::string::String;

use super::{Colour, Contrast, PART_NAMES, View, ViewError};

impl View {
    /// The metadata text, e.g. `gray-area-32x32-norm` (`gray-` or `ycc-`; `-raw`, `-norm` or
    /// `-robust`), with `+centre85`, `+top80` and `+bottom80` for the views of parts, in
    /// that order, and `+unbox` last when a caption box is filled in first.
    pub fn to_metadata(&self) -> String {
        let mut text = format!(
            "{}-area-{}x{}-{}",
            self.colour.as_str(),
            self.rows,
            self.cols,
            self.contrast.as_str()
        );
        for (name, percent) in self.parts() {
            text.push_str(&format!("+{name}{percent}"));
        }
        if self.unbox {
            text.push_str("+unbox");
        }
        text
    }

    /// Parse [`View::to_metadata`]'s text.
    pub fn from_metadata(text: &str) -> Result<View, ViewError> {
        let bad = || ViewError::Metadata { text: text.into() };
        let mut tokens = text.split('+');
        let text = tokens.next().unwrap_or_default();
        let mut percents = [None; PART_NAMES.len()];
        // Each part once, in the order `to_metadata` writes them.
        let mut next = 0;
        let mut unbox = false;
        for token in tokens {
            if unbox {
                return Err(bad());
            }
            if token == "unbox" {
                unbox = true;
                continue;
            }
            let split = token.find(|c: char| c.is_ascii_digit()).ok_or_else(bad)?;
            let (name, digits) = token.split_at(split);
            let percent = digits.parse::<u8>().map_err(|_| bad())?;
            let at = PART_NAMES[next..]
                .iter()
                .position(|&n| n == name)
                .ok_or_else(bad)?
                + next;
            (percents[at], next) = (Some(percent), at + 1);
        }
        let [centre, top, bottom] = percents;
        let (colour, rest) = text.split_once("-area-").ok_or_else(bad)?;
        let colour = Colour::from_name(colour).ok_or_else(bad)?;
        let (size, mode) = rest.rsplit_once('-').ok_or_else(bad)?;
        let (r, c) = size.split_once('x').ok_or_else(bad)?;
        let dim = |s: &str| s.parse::<usize>().map_err(|_| bad());
        let (rows, cols) = (dim(r)?, dim(c)?);
        let contrast = Contrast::from_name(mode).ok_or_else(bad)?;
        let view = View {
            colour,
            rows,
            cols,
            contrast,
            centre,
            top,
            bottom,
            unbox,
        };
        view.check_shape().map_err(|_| bad())?;
        Ok(view)
    }
}
