//! A convolutional front end for photo hashes, trained as a convolution and exported as two
//! dense layers.
//!
//! A linear hash on a 16x16 view ties every bit to fixed pixel positions, so a 60% crop or a
//! 10 degree rotation moves the picture under the weights; an MLP on 145 photos overfits.
//! A small convolution (one kernel per channel, shared over the view), ReLU and average
//! pooling to a coarse grid gives features that move little under small shifts and
//! rotations, with few weights to learn.
//!
//! On a view of fixed size, the convolution is a dense layer whose weight matrix repeats the
//! kernel (a Toeplitz structure), and average pooling followed by the next Linear is that
//! Linear with each input row spread over its pooling block. [`ConvFront::toeplitz`] and
//! [`ConvFront::fold_next`] write the front end that way, so the ONNX export (f32 and the
//! int8 `MatMulInteger` graph), tract and the runtime's native int8 executor take it as they
//! take an MLP.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::{Device, Tensor, activation::relu, module::avg_pool2d, ops::AvgPoolOptions};
use serde::{Deserialize, Serialize};

use crate::backend::host_values;
use crate::export::Dense;

/// The shape of a front end: `channels` kernels of `kernel x kernel` (zero padding
/// `kernel / 2`) at `stride`, ReLU, then averages over a `grid x grid` partition of the
/// feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvSpec {
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub grid: usize,
}

impl ConvSpec {
    /// `none`, or `channels,kernel,stride,grid` (e.g. `8,3,2,4`).
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let Some(v) = counts_or_none(s, "channels,kernel,stride,grid")? else {
            return Ok(None);
        };
        match v[..] {
            [channels, kernel, stride, grid] => Ok(Some(ConvSpec {
                channels,
                kernel,
                stride,
                grid,
            })),
            _ => Err(format!(
                "`{s}` needs four numbers: channels,kernel,stride,grid (e.g. 8,3,2,4)"
            )),
        }
    }

    fn pad(&self) -> usize {
        self.kernel / 2
    }

    /// Side of the feature map on a view side of `side` pixels.
    pub fn map_side(&self, side: usize) -> usize {
        (side + 2 * self.pad()).saturating_sub(self.kernel) / self.stride.max(1) + 1
    }

    /// Width of the pooled features (the next layer's input).
    pub fn features(&self) -> usize {
        self.channels * self.grid * self.grid
    }

    /// Check the shape against a `rows x cols` view: every number positive, a kernel no
    /// larger than the view, and a grid that divides the feature map evenly.
    pub fn check(&self, rows: usize, cols: usize) -> Result<(), String> {
        let ConvSpec {
            channels,
            kernel,
            stride,
            grid,
        } = *self;
        if channels == 0 || kernel == 0 || stride == 0 || grid == 0 {
            return Err(format!("every number must be at least 1, got {self}"));
        }
        if channels > 256 || kernel > rows.min(cols) || stride > kernel {
            return Err(format!(
                "{self} on a {rows}x{cols} view: at most 256 channels, a kernel no larger than \
                 the view and a stride no larger than the kernel"
            ));
        }
        let (h, w) = (self.map_side(rows), self.map_side(cols));
        if h % grid != 0 || w % grid != 0 {
            return Err(format!(
                "the {h}x{w} feature map of {self} does not split into a {grid}x{grid} grid"
            ));
        }
        Ok(())
    }
}

/// `none` (None), or comma-separated counts; an error names the expected `form`.
pub(crate) fn counts_or_none(s: &str, form: &str) -> Result<Option<Vec<usize>>, String> {
    if s.trim() == "none" {
        return Ok(None);
    }
    s.split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|_| format!("`{s}` is not `none` or {form}"))
}

/// As `--conv` takes it: `channels,kernel,stride,grid`.
impl std::fmt::Display for ConvSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ConvSpec {
            channels,
            kernel,
            stride,
            grid,
        } = self;
        write!(f, "{channels},{kernel},{stride},{grid}")
    }
}

/// The front end: convolution (with bias), ReLU, average pooling, flattened channel-major
/// (`c * grid^2 + gy * grid + gx`).
#[derive(Module, Debug)]
pub struct ConvFront {
    pub conv: Conv2d,
    /// Input planes (1 gray, 3 luma and chroma), stacked one after the other in a row.
    pub planes: usize,
    pub rows: usize,
    pub cols: usize,
    pub grid: usize,
}

impl ConvFront {
    /// He-initialised kernels (the ReLU halves the variance), zero biases, over `planes`
    /// input planes of `rows x cols`.
    pub fn new(spec: ConvSpec, [planes, rows, cols]: [usize; 3], device: &Device) -> Self {
        let p = spec.pad();
        let fan_in = planes * spec.kernel * spec.kernel;
        let mut conv = Conv2dConfig::new([planes, spec.channels], [spec.kernel, spec.kernel])
            .with_stride([spec.stride, spec.stride])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: (2.0 / fan_in as f64).sqrt(),
            })
            .init(device);
        conv.bias = Some(Initializer::Zeros.init([spec.channels], device));
        ConvFront {
            conv,
            planes,
            rows,
            cols,
            grid: spec.grid,
        }
    }

    pub fn spec(&self) -> ConvSpec {
        let [channels, _, kernel, _] = self.conv.weight.shape().dims::<4>();
        ConvSpec {
            channels,
            kernel,
            stride: self.conv.stride[0],
            grid: self.grid,
        }
    }

    /// Input width (`planes * rows * cols`).
    pub fn input_dim(&self) -> usize {
        self.planes * self.rows * self.cols
    }

    /// Width of the output.
    pub fn output_dim(&self) -> usize {
        self.spec().features()
    }

    /// Pooled features `[B, channels * grid^2]` of scaled views `[B, planes * rows * cols]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let b = x.dims()[0];
        let maps = relu(
            self.conv
                .forward(x.reshape([b, self.planes, self.rows, self.cols])),
        );
        let [_, c, h, w] = maps.dims();
        let (bh, bw) = (h / self.grid, w / self.grid);
        let pooled = avg_pool2d(maps, AvgPoolOptions::new([bh, bw]).with_stride([bh, bw]));
        pooled.reshape([b, c * self.grid * self.grid])
    }

    fn map_dims(&self) -> (usize, usize, usize) {
        let s = self.spec();
        (s.channels, s.map_side(self.rows), s.map_side(self.cols))
    }

    /// The convolution and its ReLU as one dense layer on scaled views:
    /// `[planes * rows * cols, channels * h * w]`, output unit `c * h * w + y * w + x` (the
    /// feature map before pooling).
    pub fn toeplitz(&self) -> Dense {
        let s = self.spec();
        let (c_n, h, w) = self.map_dims();
        let k = s.kernel;
        let kernel: Vec<f32> = host_values(self.conv.weight.val());
        let bias: Vec<f32> = self
            .conv
            .bias
            .as_ref()
            .map(|b| host_values(b.val()))
            .unwrap_or_else(|| vec![0.0; c_n]);
        let (d_in, d_out) = (self.input_dim(), c_n * h * w);
        let plane = self.rows * self.cols;
        let mut weight = vec![0f32; d_in * d_out];
        for c in 0..c_n {
            for y in 0..h {
                for x in 0..w {
                    let unit = c * h * w + y * w + x;
                    for (p, ky, kx) in (0..self.planes)
                        .flat_map(|p| (0..k).flat_map(move |ky| (0..k).map(move |kx| (p, ky, kx))))
                    {
                        {
                            let iy = (y * s.stride + ky) as isize - s.pad() as isize;
                            let ix = (x * s.stride + kx) as isize - s.pad() as isize;
                            if iy < 0
                                || ix < 0
                                || iy >= self.rows as isize
                                || ix >= self.cols as isize
                            {
                                continue; // zero padding
                            }
                            let pixel = p * plane + iy as usize * self.cols + ix as usize;
                            weight[pixel * d_out + unit] =
                                kernel[((c * self.planes + p) * k + ky) * k + kx];
                        }
                    }
                }
            }
        }
        Dense {
            d_in,
            d_out,
            weight,
            bias: (0..d_out).map(|u| bias[u / (h * w)]).collect(),
            relu: true,
        }
    }

    /// Rewrite the layer after the pooling (`[channels * grid^2, d_out]`) to take
    /// [`ConvFront::toeplitz`]'s units (`[channels * h * w, d_out]`): each map unit gets its
    /// block's row divided by the block size, so that average pooling is part of the matrix.
    pub fn fold_next(&self, next: &mut Dense) {
        next.weight = self.unpool_rows(&next.weight, next.d_out);
        next.d_in = next.weight.len() / next.d_out;
    }

    fn unpool_rows(&self, weight: &[f32], d_out: usize) -> Vec<f32> {
        let (c_n, h, w) = self.map_dims();
        let g = self.grid;
        let (bh, bw) = (h / g, w / g);
        let inv = 1.0 / (bh * bw) as f32;
        let mut out = Vec::with_capacity(c_n * h * w * d_out);
        for c in 0..c_n {
            for y in 0..h {
                for x in 0..w {
                    let row = c * g * g + (y / bh) * g + x / bw;
                    out.extend(
                        weight[row * d_out..(row + 1) * d_out]
                            .iter()
                            .map(|v| v * inv),
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::inference_device;
    use crate::export::forward_layers;
    use burn::tensor::Distribution;

    #[test]
    fn parse_takes_none_or_four_numbers() {
        assert_eq!(ConvSpec::parse("none"), Ok(None));
        assert_eq!(
            ConvSpec::parse("8,3,2,4"),
            Ok(Some(ConvSpec {
                channels: 8,
                kernel: 3,
                stride: 2,
                grid: 4,
            }))
        );
        assert!(ConvSpec::parse("8,3").is_err());
        assert!(ConvSpec::parse("a,b,c,d").is_err());
    }

    #[test]
    fn check_wants_a_grid_that_divides_the_map() {
        let s = |channels, kernel, stride, grid| ConvSpec {
            channels,
            kernel,
            stride,
            grid,
        };
        assert!(s(8, 3, 2, 4).check(16, 16).is_ok()); // 8x8 map
        assert!(s(8, 3, 2, 3).check(16, 16).is_err());
        assert!(s(8, 5, 1, 4).check(16, 16).is_ok()); // 16x16 map
        assert!(s(0, 3, 1, 1).check(16, 16).is_err());
        assert!(s(8, 20, 1, 1).check(16, 16).is_err());
    }

    /// Each limit on its own, at its edge: every number at least 1, at most 256 channels, a
    /// kernel up to the view's shorter side, a stride up to the kernel, and a grid that
    /// divides both sides of a map that is not square.
    #[test]
    fn check_holds_each_limit_at_its_edge() {
        let s = |channels, kernel, stride, grid| ConvSpec {
            channels,
            kernel,
            stride,
            grid,
        };
        for zero in [s(0, 3, 1, 1), s(8, 0, 1, 1), s(8, 3, 0, 1), s(8, 3, 1, 0)] {
            let e = zero.check(16, 16).unwrap_err();
            assert!(e.contains("at least 1"), "{zero}: {e}");
        }
        assert!(s(256, 3, 1, 1).check(16, 16).is_ok());
        assert!(s(257, 3, 1, 1).check(16, 16).is_err());
        // The shorter side is 16 whichever way round the view is.
        for (rows, cols) in [(16, 20), (20, 16)] {
            assert!(s(8, 16, 1, 1).check(rows, cols).is_ok(), "{rows}x{cols}");
            assert!(s(8, 17, 1, 1).check(rows, cols).is_err(), "{rows}x{cols}");
        }
        assert!(s(8, 3, 3, 1).check(16, 16).is_ok());
        assert!(s(8, 3, 4, 1).check(16, 16).is_err());
        // Kernel 3 at stride 2: a 16x12 view gives an 8x6 map, which a 2x2 grid divides
        // and a 4x4 grid does not, in either orientation.
        assert_eq!(
            (s(8, 3, 2, 4).map_side(16), s(8, 3, 2, 4).map_side(12)),
            (8, 6)
        );
        assert!(s(8, 3, 2, 2).check(16, 12).is_ok());
        for (rows, cols) in [(16, 12), (12, 16)] {
            let e = s(8, 3, 2, 4).check(rows, cols).unwrap_err();
            assert!(e.contains("does not split into a 4x4 grid"), "{e}");
        }
    }

    /// `--conv` reads back what the model card prints.
    #[test]
    fn display_is_what_parse_reads() {
        let spec = ConvSpec {
            channels: 12,
            kernel: 5,
            stride: 2,
            grid: 4,
        };
        assert_eq!(spec.to_string(), "12,5,2,4");
        assert_eq!(ConvSpec::parse(&spec.to_string()), Ok(Some(spec)));
        assert_eq!(ConvSpec::parse(" none "), Ok(None));
        assert_eq!(ConvSpec::parse("12, 5, 2, 4"), Ok(Some(spec)));
    }

    /// Toeplitz + ReLU, then the unpooled next layer, equals conv + ReLU + pooling + Linear.
    #[test]
    fn dense_form_computes_the_front_end() {
        let device = inference_device();
        for (spec, shape) in [
            (
                ConvSpec {
                    channels: 3,
                    kernel: 3,
                    stride: 2,
                    grid: 2,
                },
                [1, 8, 8],
            ),
            (
                ConvSpec {
                    channels: 2,
                    kernel: 5,
                    stride: 1,
                    grid: 4,
                },
                [1, 8, 8],
            ),
            // A 12x8 map in 3x2 blocks: rows and columns told apart.
            (
                ConvSpec {
                    channels: 2,
                    kernel: 3,
                    stride: 1,
                    grid: 4,
                },
                [1, 12, 8],
            ),
            // Luma and chroma planes.
            (
                ConvSpec {
                    channels: 4,
                    kernel: 3,
                    stride: 2,
                    grid: 2,
                },
                [3, 8, 8],
            ),
        ] {
            let [planes, rows, cols] = shape;
            let mut front = ConvFront::new(spec, shape, &device);
            front.conv.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::random(
                [spec.channels],
                Distribution::Normal(0.0, 0.5),
                &device,
            )));
            let n = 5;
            // Scaled pixels: -1..1.
            let x = Tensor::<2>::random(
                [n, planes * rows * cols],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let d_out = 3;
            let next = Tensor::<2>::random(
                [spec.features(), d_out],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let want = host_values(front.forward(x.clone()).matmul(next.clone()));
            let t = front.toeplitz();
            let mut second = Dense {
                d_in: spec.features(),
                d_out,
                weight: host_values(next),
                bias: vec![0.0; d_out],
                relu: false,
            };
            front.fold_next(&mut second);
            assert_eq!(second.d_in, t.d_out);
            let got = forward_layers(&[t, second], &host_values(x), n);
            let got = &got[1];
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b} ({spec:?})");
            }
        }
    }
}
