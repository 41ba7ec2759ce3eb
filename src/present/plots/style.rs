//! The shared look: one font, a few sizes, and one colour per curve, so the
//! same quantity has the same colour in every figure (chosen: blues,
//! rejected: reds, unseen: green/grey).

use plotters::style::RGBColor;

/// The registered font family (see [`super::init_fonts`]).
pub const FONT: &str = "sans-serif";

/// Figure title (top line).
pub const TITLE_SIZE: u32 = 26;
/// Panel captions and row/column headers.
pub const PANEL_TITLE_SIZE: u32 = 22;
/// Axis descriptions ("epoch", "probability").
pub const AXIS_DESC_SIZE: u32 = 19;
/// Tick labels.
pub const TICK_SIZE: u32 = 16;
/// Legend entries.
pub const LEGEND_SIZE: u32 = 17;
/// Largest value text inside a heatmap cell (shrunk to fit small cells).
pub const CELL_TEXT_SIZE: u32 = 16;

/// Stroke width of solid curves; dashed ones use one less.
pub const LINE_WIDTH: u32 = 3;

/// Average chosen probability.
pub const CHOSEN: RGBColor = RGBColor(0x08, 0x45, 0x94);
/// Minimum chosen probability (a lighter blue, dashed).
pub const CHOSEN_MIN: RGBColor = RGBColor(0x42, 0x92, 0xc6);
/// Average rejected probability.
pub const REJECTED: RGBColor = RGBColor(0xb2, 0x18, 0x2b);
/// Maximum rejected probability (a lighter red, dashed).
pub const REJECTED_MAX: RGBColor = RGBColor(0xf0, 0x6c, 0x4c);
/// Average unseen probability (outside each prompt's own pair).
pub const UNSEEN: RGBColor = RGBColor(0x23, 0x8b, 0x45);
/// Average strictly unseen probability (responses in no pair), dashed.
pub const UNSEEN_STRICT: RGBColor = RGBColor(0x73, 0x73, 0x73);

/// Grid lines.
pub const GRID: RGBColor = RGBColor(0xe3, 0xe3, 0xe3);
/// Axis lines and text.
pub const INK: RGBColor = RGBColor(0x20, 0x20, 0x20);
/// Heatmap cells with no finite value.
pub const MISSING: RGBColor = RGBColor(0xd9, 0xd9, 0xd9);
