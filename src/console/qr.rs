//! QR codes for the printed report: the module matrix from the `qrcode` crate, drawn as SVG for
//! pages and as filled squares in the PDF (no images, nothing to rasterise).

use qrcode::{Color, EcLevel, QrCode};

/// The code's modules, row by row (true: dark), without the quiet zone.
pub struct Matrix {
    pub width: usize,
    pub dark: Vec<bool>,
}

impl Matrix {
    /// Error correction M (15%): a printed, photocopied page still scans.
    pub fn of(text: &str) -> Option<Matrix> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
        Some(Matrix {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
        })
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    /// Runs of dark modules per row: (x, y, length), so that drawing takes few rectangles.
    pub fn runs(&self) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    out.push((start, y, x - start));
                } else {
                    x += 1;
                }
            }
        }
        out
    }

    /// An SVG element with a 4-module quiet zone, labelled for screen readers.
    pub fn svg(&self, label: &str) -> String {
        let size = self.width + 8;
        let mut path = String::new();
        for (x, y, n) in self.runs() {
            path.push_str(&format!("M{} {}h{}v1h-{}z", x + 4, y + 4, n, n));
        }
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" role="img" aria-label="{}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##,
            maud::html! { (label) }.into_string()
        )
    }
}
