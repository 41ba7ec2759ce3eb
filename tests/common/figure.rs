//! Reading back a figure's two files (`STEM.png`, `STEM.svg`) for render
//! tests that can fail: the PNG is decoded and the SVG's elements parsed, so
//! a test checks dimensions, the text drawn (titles, axis labels, legend
//! entries, cell values), each series' curve and each heatmap cell, and that
//! the two back ends drew the same thing (the PNG carries a curve's or a
//! cell's colour where the SVG puts it).
//!
//! Shared by the integration tests (`mod common;`) and the library's unit
//! tests (`#[path]` from `src/plots/mod.rs`); it uses only `std` and the
//! `png` dev-dependency.

// Each includer uses a different subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// `#RRGGBB` as plotters writes it (upper-case hex).
pub fn hex(c: Rgb) -> String {
    format!("#{:02X}{:02X}{:02X}", c[0], c[1], c[2])
}

/// A decoded PNG, RGB.
pub struct Png {
    pub width: u32,
    pub height: u32,
    rgb: Vec<Rgb>,
}

impl Png {
    pub fn read(path: &Path) -> Png {
        let file = std::fs::File::open(path)
            .unwrap_or_else(|e| panic!("{}: cannot open: {e}", path.display()));
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder
            .read_info()
            .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut buf)
            .unwrap_or_else(|e| panic!("{}: cannot decode: {e}", path.display()));
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("{}: unexpected colour type {other:?}", path.display()),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Png {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    pub fn pixel(&self, x: i64, y: i64) -> Option<Rgb> {
        (x >= 0 && y >= 0 && x < self.width as i64 && y < self.height as i64)
            .then(|| self.rgb[y as usize * self.width as usize + x as usize])
    }

    /// Pixels of exactly colour `c`.
    pub fn count(&self, c: Rgb) -> usize {
        self.rgb.iter().filter(|p| **p == c).count()
    }

    /// Pixels that are not white.
    pub fn non_white(&self) -> usize {
        self.rgb.iter().filter(|p| **p != [255; 3]).count()
    }

    /// Whether a pixel of colour `c` lies within `r` pixels of `(x, y)`.
    pub fn near(&self, x: i64, y: i64, r: i64, c: Rgb) -> bool {
        (-r..=r).any(|dy| (-r..=r).any(|dx| self.pixel(x + dx, y + dy) == Some(c)))
    }
}

/// One SVG element: its tag, attributes and (for `<text>`) its content.
#[derive(Debug, Clone)]
pub struct Element {
    pub tag: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn num(&self, name: &str) -> f64 {
        self.attr(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("<{}> has no numeric `{name}`: {self:?}", self.tag))
    }

    /// The vertices of a `<polyline>`.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.attr("points")
            .unwrap_or("")
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An SVG file as a flat list of elements in document order (plotters
/// writes no nesting other than `<svg>` around everything).
pub struct Svg {
    pub width: u32,
    pub height: u32,
    pub elements: Vec<Element>,
}

impl Svg {
    pub fn read(path: &Path) -> Svg {
        let s = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
        Svg::parse(&s)
    }

    pub fn parse(s: &str) -> Svg {
        let mut elements = Vec::new();
        let mut rest = s;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            if rest.starts_with('/') || rest.starts_with('!') || rest.starts_with('?') {
                continue;
            }
            let end = rest.find('>').expect("a closed tag");
            let head = rest[..end].trim_end_matches('/');
            let (tag, mut attrs_src) = head.split_once(char::is_whitespace).unwrap_or((head, ""));
            let mut attrs = Vec::new();
            while let Some(eq) = attrs_src.find("=\"") {
                let name = attrs_src[..eq].trim().to_string();
                let after = &attrs_src[eq + 2..];
                let close = after.find('"').expect("a closed attribute");
                attrs.push((name, unescape(&after[..close])));
                attrs_src = &after[close + 1..];
            }
            let mut text = String::new();
            if tag == "text" {
                let body = &rest[end + 1..];
                let close = body.find("</text>").expect("</text>");
                text = unescape(body[..close].trim());
            }
            elements.push(Element {
                tag: tag.to_string(),
                attrs,
                text,
            });
            rest = &rest[end + 1..];
        }
        let root = elements
            .iter()
            .find(|e| e.tag == "svg")
            .expect("an <svg> root");
        Svg {
            width: root.num("width") as u32,
            height: root.num("height") as u32,
            elements: elements.clone(),
        }
    }

    pub fn all<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements.iter().filter(move |e| e.tag == tag)
    }

    /// The content of every `<text>`, in document order.
    pub fn texts(&self) -> Vec<&str> {
        self.all("text").map(|e| e.text.as_str()).collect()
    }

    /// How many `<text>` elements read exactly `s`.
    pub fn count_text(&self, s: &str) -> usize {
        self.all("text").filter(|e| e.text == s).count()
    }

    /// The `<polyline>`s stroked in colour `c`.
    pub fn polylines(&self, c: Rgb) -> Vec<&Element> {
        let h = hex(c);
        self.all("polyline")
            .filter(|e| e.attr("stroke") == Some(h.as_str()))
            .collect()
    }

    /// The `<rect>`s filled with a colour (not `none`), in document order,
    /// the white background excluded.
    pub fn filled_rects(&self) -> Vec<&Element> {
        self.all("rect")
            .filter(|e| !matches!(e.attr("fill"), None | Some("none")))
            .skip(1)
            .collect()
    }

    /// The unfilled `<rect>`s stroked in colour `c` (outlines).
    pub fn outlines(&self, c: Rgb) -> Vec<&Element> {
        let h = hex(c);
        self.all("rect")
            .filter(|e| e.attr("fill") == Some("none") && e.attr("stroke") == Some(h.as_str()))
            .collect()
    }
}

/// A figure's two files read back, with the checks every figure must pass:
/// both exist, decode, and have the size the figure declares.
pub struct Drawn {
    pub stem: PathBuf,
    pub png: Png,
    pub svg: Svg,
}

impl Drawn {
    pub fn read(stem: &Path, size: (u32, u32)) -> Drawn {
        let s = stem.as_os_str().to_string_lossy();
        let png = Png::read(Path::new(&format!("{s}.png")));
        let svg = Svg::read(Path::new(&format!("{s}.svg")));
        assert_eq!((png.width, png.height), size, "{s}.png size");
        assert_eq!((svg.width, svg.height), size, "{s}.svg size");
        // Not blank: more than the frame and a title (a few per cent of the
        // canvas) is drawn.
        let area = (size.0 * size.1) as usize;
        assert!(
            png.non_white() * 50 > area,
            "{s}.png: only {} of {area} pixels are not white",
            png.non_white()
        );
        Drawn {
            stem: stem.to_path_buf(),
            png,
            svg,
        }
    }

    /// Each string is the whole text of at least one `<text>` element.
    pub fn assert_texts(&self, want: &[&str]) {
        for w in want {
            assert!(
                self.svg.count_text(w) > 0,
                "{}: no text `{w}` among {:?}",
                self.stem.display(),
                self.svg.texts()
            );
        }
    }

    /// Colour `c` draws exactly `curves` solid curves of at least
    /// `min_points` vertices (a legend swatch has 2), every vertex inside
    /// the canvas, and the PNG carries `c` at (within a pixel of) at least
    /// `min_share` of their vertices: the bitmap drew the same curves.
    pub fn assert_curves(&self, c: Rgb, curves: usize, min_points: usize, min_share: f64) {
        let lines: Vec<&Element> = self
            .svg
            .polylines(c)
            .into_iter()
            .filter(|e| e.points().len() >= min_points)
            .collect();
        assert_eq!(
            lines.len(),
            curves,
            "{}: {} curves of at least {min_points} points in {}, expected {curves}",
            self.stem.display(),
            lines.len(),
            hex(c)
        );
        let (mut hit, mut all) = (0usize, 0usize);
        for l in &lines {
            for (x, y) in l.points() {
                assert!(
                    (0.0..=self.svg.width as f64).contains(&x)
                        && (0.0..=self.svg.height as f64).contains(&y),
                    "{}: vertex ({x}, {y}) of {} off the canvas",
                    self.stem.display(),
                    hex(c)
                );
                all += 1;
                hit += usize::from(self.png.near(x as i64, y as i64, 1, c));
            }
        }
        assert!(
            hit as f64 >= min_share * all as f64,
            "{}: the PNG shows {} at {hit} of the {all} vertices of its SVG curves",
            self.stem.display(),
            hex(c)
        );
    }

    /// The vertices of the curves of colour `c` with at least `min_points`
    /// vertices, in document (drawing) order.
    pub fn curves(&self, c: Rgb, min_points: usize) -> Vec<Vec<(f64, f64)>> {
        self.svg
            .polylines(c)
            .into_iter()
            .map(Element::points)
            .filter(|p| p.len() >= min_points)
            .collect()
    }

    /// A heatmap's cells: `colors` (row-major, `cols` per row, row 0 on
    /// top) are the fills of consecutive `<rect>`s laid out as that grid
    /// (see [`Drawn::grids`]), and the PNG has each cell's colour inside it.
    pub fn assert_cells(&self, colors: &[Rgb], cols: usize) {
        let rects = self.svg.filled_rects();
        let want: Vec<String> = colors.iter().map(|&c| hex(c)).collect();
        let found = (0..=rects.len().saturating_sub(want.len())).find(|&i| {
            rects[i..i + want.len()]
                .iter()
                .zip(&want)
                .all(|(r, w)| r.attr("fill") == Some(w.as_str()))
        });
        let Some(start) = found else {
            panic!(
                "{}: no {} consecutive cells in the wanted colours {:?}…",
                self.stem.display(),
                want.len(),
                &want[..want.len().min(6)]
            )
        };
        let cells = &rects[start..start + want.len()];
        if let Err(e) = grid_layout(cells, cols) {
            panic!("{}: cells in the colours wanted: {e}", self.stem.display());
        }
        self.assert_png_cells(cells, cols);
    }

    /// Every run of `rows × cols` consecutive filled `<rect>`s laid out as
    /// a grid (equal rows left to right, rows top to bottom), with the PNG
    /// showing each cell's colour inside the cell (sampled away from the
    /// centre, where a value is written, and from the edges, where seams
    /// and outlines go). Returns each grid's fills, row-major.
    pub fn grids(&self, rows: usize, cols: usize) -> Vec<Vec<Rgb>> {
        let rects = self.svg.filled_rects();
        let n = rows * cols;
        let mut out = Vec::new();
        let mut i = 0;
        while i + n <= rects.len() {
            let cells = &rects[i..i + n];
            if grid_layout(cells, cols).is_ok() {
                self.assert_png_cells(cells, cols);
                out.push(cells.iter().map(|r| fill(r)).collect());
                i += n;
            } else {
                i += 1;
            }
        }
        out
    }

    fn assert_png_cells(&self, cells: &[&Element], cols: usize) {
        for (i, r) in cells.iter().enumerate() {
            let (x, y, w, h) = (r.num("x"), r.num("y"), r.num("width"), r.num("height"));
            let (px, py) = ((x + 0.15 * w) as i64, (y + 0.85 * h) as i64);
            assert_eq!(
                self.png.pixel(px, py),
                Some(fill(r)),
                "{}: PNG pixel ({px}, {py}) of cell ({}, {})",
                self.stem.display(),
                i / cols,
                i % cols
            );
        }
    }
}

/// The fill colour of an element.
fn fill(e: &Element) -> Rgb {
    let h = e.attr("fill").expect("a fill");
    let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).expect("#RRGGBB");
    [v(1), v(3), v(5)]
}

/// Whether `cells` (row-major, `cols` per row) are laid out as a grid: at
/// least 4 pixels each way, each right of its left neighbour on the same
/// line, each below its upper neighbour in the same column.
fn grid_layout(cells: &[&Element], cols: usize) -> Result<(), String> {
    let at: Vec<(f64, f64, f64, f64)> = cells
        .iter()
        .map(|r| (r.num("x"), r.num("y"), r.num("width"), r.num("height")))
        .collect();
    for (i, &(x, y, w, h)) in at.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        if w < 4.0 || h < 4.0 {
            return Err(format!("cell ({r}, {c}) is {w}×{h}"));
        }
        if c > 0 && !(at[i - 1].0 < x && at[i - 1].1 == y) {
            return Err(format!("cell ({r}, {c}) not right of its neighbour"));
        }
        if r > 0 && !(at[i - cols].1 < y && at[i - cols].0 == x) {
            return Err(format!("cell ({r}, {c}) not below its neighbour"));
        }
    }
    Ok(())
}

/// `drawn` (pixel vertices) is `data` (in the chart's units) under one
/// affine map per axis, x rightwards and y upwards, to within `tol` pixels:
/// the curve is the data, at the right place relative to its own points.
pub fn assert_affine(drawn: &[(f64, f64)], data: &[(f64, f64)], tol: f64, what: &str) {
    assert_eq!(
        drawn.len(),
        data.len(),
        "{what}: vertices against data points"
    );
    let fit = |u: &[f64], v: &[f64]| {
        let n = u.len() as f64;
        let (mu, mv) = (u.iter().sum::<f64>() / n, v.iter().sum::<f64>() / n);
        let cov: f64 = u.iter().zip(v).map(|(a, b)| (a - mu) * (b - mv)).sum();
        let var: f64 = u.iter().map(|a| (a - mu).powi(2)).sum();
        let slope = cov / var;
        let worst = u
            .iter()
            .zip(v)
            .map(|(a, b)| (mv + slope * (a - mu) - b).abs())
            .fold(0.0, f64::max);
        (slope, worst)
    };
    let col = |v: &[(f64, f64)], i: usize| -> Vec<f64> {
        v.iter().map(|p| if i == 0 { p.0 } else { p.1 }).collect()
    };
    let (sx, wx) = fit(&col(data, 0), &col(drawn, 0));
    let (sy, wy) = fit(&col(data, 1), &col(drawn, 1));
    assert!(
        sx > 0.0 && wx <= tol,
        "{what}: x is not the data's (slope {sx}, off by {wx} px)"
    );
    assert!(
        sy < 0.0 && wy <= tol,
        "{what}: y is not the data's (slope {sy}, off by {wy} px)"
    );
}
