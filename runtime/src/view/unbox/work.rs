//! The working copy a box is looked for on: the photo box-averaged to at most
//! [`WORK_SIDE`](super::WORK_SIDE) pixels a side, as RGB planes, and the rules any box on it
//! meets whichever pass found it (its size and shape, its frame).

use alloc::vec;
use alloc::vec::Vec;

use super::{BoxRect, FLAT, FRAME, NARROWEST, NEAR, WIDE};

/// The working copy: RGB, `w x h`, each pixel the mean of an `f x f` block of the photo.
pub(super) struct Work {
    pub(super) w: usize,
    pub(super) h: usize,
    /// Red, green and blue planes, `w * h` each.
    pub(super) planes: [Vec<u8>; 3],
}

impl Work {
    pub(super) fn new(
        pixels: &[u8],
        width: usize,
        channels: usize,
        f: usize,
        w: usize,
        h: usize,
    ) -> Work {
        match channels {
            1 => Self::average::<1>(pixels, width, f, w, h),
            2 => Self::average::<2>(pixels, width, f, w, h),
            3 => Self::average::<3>(pixels, width, f, w, h),
            _ => Self::average::<4>(pixels, width, f, w, h),
        }
    }

    /// The `f x f` block means of an image of `C` bytes a pixel (gray for fewer than 3).
    fn average<const C: usize>(pixels: &[u8], width: usize, f: usize, w: usize, h: usize) -> Work {
        let n = (f * f) as u32;
        let mut planes = [vec![0u8; w * h], vec![0u8; w * h], vec![0u8; w * h]];
        if f == 2 && C >= 3 {
            // The common case (a photo of 257 to 512 pixels a side): two rows at a time.
            for by in 0..h {
                let r0 = &pixels[2 * by * width * C..][..2 * w * C];
                let r1 = &pixels[(2 * by + 1) * width * C..][..2 * w * C];
                for c in 0..3 {
                    let out = &mut planes[c][by * w..][..w];
                    for ((o, p), q) in out
                        .iter_mut()
                        .zip(r0.chunks_exact(2 * C))
                        .zip(r1.chunks_exact(2 * C))
                    {
                        *o = ((p[c] as u32 + p[C + c] as u32 + q[c] as u32 + q[C + c] as u32 + 2)
                            / 4) as u8;
                    }
                }
            }
            return Work { w, h, planes };
        }
        let mut acc = vec![[0u32; 3]; w];
        for by in 0..h {
            acc.iter_mut().for_each(|a| *a = [0; 3]);
            for y in by * f..(by + 1) * f {
                let row = &pixels[y * width * C..][..w * f * C];
                for (a, block) in acc.iter_mut().zip(row.chunks_exact(C * f)) {
                    for p in block.chunks_exact(C) {
                        if C >= 3 {
                            a[0] += p[0] as u32;
                            a[1] += p[1] as u32;
                            a[2] += p[2] as u32;
                        } else {
                            a[0] += p[0] as u32;
                        }
                    }
                }
            }
            for (x, a) in acc.iter().enumerate() {
                let m = |s: u32| ((s + n / 2) / n) as u8;
                for c in 0..3 {
                    planes[c][by * w + x] = m(a[if C >= 3 { c } else { 0 }]);
                }
            }
        }
        Work { w, h, planes }
    }

    /// Whether each pixel's 3x3 neighbourhood (within the image) varies by at most [`FLAT`]
    /// levels in every channel: per channel plane, the max and min of three rows, then of
    /// three columns (slices side by side, so the compiler vectorizes them).
    pub(super) fn flat(&self) -> Vec<bool> {
        let (w, h) = (self.w, self.h);
        let mut flat = vec![true; w * h];
        let (mut vmax, mut vmin) = (vec![0u8; w], vec![0u8; w]);
        let (mut hmax, mut hmin) = (vec![0u8; w], vec![0u8; w]);
        for plane in &self.planes {
            for y in 0..h {
                let (lo, hi) = (y.saturating_sub(1), (y + 1).min(h - 1));
                let (a, b, d) = (
                    &plane[lo * w..][..w],
                    &plane[y * w..][..w],
                    &plane[hi * w..][..w],
                );
                for x in 0..w {
                    vmax[x] = a[x].max(b[x]).max(d[x]);
                    vmin[x] = a[x].min(b[x]).min(d[x]);
                }
                hmax.copy_from_slice(&vmax);
                hmin.copy_from_slice(&vmin);
                for x in 1..w {
                    hmax[x] = hmax[x].max(vmax[x - 1]);
                    hmin[x] = hmin[x].min(vmin[x - 1]);
                }
                for x in 0..w - 1 {
                    hmax[x] = hmax[x].max(vmax[x + 1]);
                    hmin[x] = hmin[x].min(vmin[x + 1]);
                }
                for (x, o) in flat[y * w..][..w].iter_mut().enumerate() {
                    *o &= hmax[x] - hmin[x] <= FLAT;
                }
            }
        }
        flat
    }

    /// The size rules of a box `(x, y, bw, bh)`; `partial`: of a part of one (its area and
    /// extent only bound it from below).
    pub(super) fn fits(&self, x: usize, y: usize, bw: usize, bh: usize, partial: bool) -> bool {
        let (w, h) = (self.w as f32, self.h as f32);
        let area = (bw * bh) as f32;
        let small_enough = area <= 0.15 * w * h && bw as f32 <= 0.9 * w && bh as f32 <= 0.5 * h;
        if partial {
            return small_enough;
        }
        let aspect = bw as f32 / bh.max(1) as f32;
        let edges = [x == 0, y == 0, x + bw == self.w, y + bh == self.h]
            .iter()
            .filter(|&&e| e)
            .count();
        small_enough && area >= 0.01 * w * h && (NARROWEST..=12.0).contains(&aspect) && edges <= 1
    }

    /// Whether a box is as wide as a caption (see [`WIDE`]).
    pub(super) fn wide(bw: usize, bh: usize) -> bool {
        bw as f32 >= WIDE * bh as f32
    }

    /// The box with its frame: each side moved out over the lines just outside it that are
    /// one colour and differ from the line beyond them (at most [`FRAME`] of them), so that an
    /// outlined box is filled from beyond its outline, not from it.
    pub(super) fn with_frame(&self, (x, y, bw, bh): BoxRect) -> BoxRect {
        let (w, h) = (self.w, self.h);
        // The lines k = 1, 2, ... outside one side, as long as they are in the image.
        let out = |room: usize, line: &dyn Fn(usize) -> Vec<usize>| {
            let mut k = 0;
            while k < FRAME.min(room) {
                let Some(colour) = self.one_colour(&line(k + 1)) else {
                    break;
                };
                let beyond = (k + 1 < room).then(|| self.mean_colour(&line(k + 2)));
                if beyond.is_some_and(|b| far(&b, &colour) <= NEAR) {
                    break;
                }
                k += 1;
            }
            k
        };
        let top = out(y, &|k| (x..x + bw).map(|c| (y - k) * w + c).collect());
        let bottom = out(h - y - bh, &|k| {
            (x..x + bw).map(|c| (y + bh - 1 + k) * w + c).collect()
        });
        let left = out(x, &|k| (y..y + bh).map(|r| r * w + x - k).collect());
        let right = out(w - x - bw, &|k| {
            (y..y + bh).map(|r| r * w + x + bw - 1 + k).collect()
        });
        (x - left, y - top, bw + left + right, bh + top + bottom)
    }

    /// The mean colour of the pixels `line` (indices into the planes).
    fn mean_colour(&self, line: &[usize]) -> [f32; 3] {
        let n = line.len().max(1) as f32;
        [0, 1, 2].map(|c| line.iter().map(|&i| self.planes[c][i] as f32).sum::<f32>() / n)
    }

    /// The mean colour of `line` when 90% of its pixels are within [`NEAR`] of it.
    fn one_colour(&self, line: &[usize]) -> Option<[f32; 3]> {
        let colour = self.mean_colour(line);
        let near = line
            .iter()
            .filter(|&&i| (0..3).all(|c| (self.planes[c][i] as f32 - colour[c]).abs() <= NEAR))
            .count();
        (near as f32 >= 0.9 * line.len() as f32).then_some(colour)
    }
}

/// The largest per-channel difference of two colours.
pub(super) fn far(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (0..3).map(|c| (a[c] - b[c]).abs()).fold(0.0, f32::max)
}
