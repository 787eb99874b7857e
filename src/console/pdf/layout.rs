//! A small flow layout for printed pages: text wrapped to a width (a CJK character may break
//! anywhere, a Latin word only at a space, a word wider than the line by character), headings,
//! label–value rows, rules, and a QR code; pages are laid out first and drawn afterwards, so
//! that each footer can say "page n of N".

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::paint::{Fill, FillRule};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

/// A4 in points.
pub const PAGE_W: f32 = 595.28;
pub const PAGE_H: f32 = 841.89;
pub const MARGIN: f32 = 56.0;
pub const BODY_W: f32 = PAGE_W - 2.0 * MARGIN;
/// The footer's baseline; content stops above it.
const FOOTER_Y: f32 = PAGE_H - 30.0;
const BOTTOM: f32 = PAGE_H - 50.0;

/// Glyph lookup and advances of the report font.
pub struct Metrics<'a> {
    cmap: skrifa::charmap::Charmap<'a>,
    glyphs: skrifa::metrics::GlyphMetrics<'a>,
    upem: f32,
}

impl<'a> Metrics<'a> {
    pub fn new(data: &'a [u8], index: u32) -> Option<Self> {
        let f = FontRef::from_index(data, index).ok()?;
        let upem = f
            .metrics(Size::unscaled(), LocationRef::default())
            .units_per_em as f32;
        Some(Metrics {
            cmap: f.charmap(),
            glyphs: f.glyph_metrics(Size::unscaled(), LocationRef::default()),
            upem,
        })
    }

    /// The glyph and its advance in em; a character the font lacks gets glyph 0 (a box).
    fn glyph(&self, c: char) -> (u32, f32) {
        let gid = self.cmap.map(c).unwrap_or_default();
        let adv = self.glyphs.advance_width(gid).unwrap_or(self.upem / 2.0) / self.upem;
        (gid.to_u32(), adv)
    }

    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// The characters of `text` the font has no glyph for.
    pub fn missing(&self, text: &str) -> usize {
        text.chars()
            .filter(|c| !c.is_control() && self.cmap.map(*c).is_none())
            .count()
    }

    /// `text` in lines no wider than `width`.
    pub fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            let mut w = 0.0;
            for token in tokens(para) {
                let tw = self.width(&token, size);
                // Closing punctuation never starts a line: it hangs in the margin instead.
                let hangs = !line.is_empty() && token.chars().all(|c| NO_LINE_START.contains(c));
                if hangs || w + tw <= width || line.is_empty() && tw <= width {
                    line.push_str(&token);
                    w += tw;
                    continue;
                }
                if tw <= width {
                    lines.push(line.trim_end().to_string());
                    let t = token.trim_start();
                    line = t.to_string();
                    w = self.width(t, size);
                    continue;
                }
                // Wider than a line: by character.
                for c in token.chars() {
                    let cw = self.glyph(c).1 * size;
                    if w + cw > width && !line.is_empty() {
                        lines.push(std::mem::take(&mut line));
                        w = 0.0;
                    }
                    line.push(c);
                    w += cw;
                }
            }
            lines.push(line.trim_end().to_string());
        }
        lines
    }

    fn glyph_run(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(i, c)| {
                let (gid, adv) = self.glyph(c);
                KrillaGlyph::new(
                    GlyphId::new(gid),
                    adv,
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }
}

/// Characters that may not begin a line (GB/T 15834 punctuation, and their ASCII cousins).
const NO_LINE_START: &str = "，。、；：！？）》」』】〕”’…,.;:!?)]%";

/// Breakable pieces: each CJK character (and full-width punctuation) alone, a Latin word with
/// the spaces after it.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let wide = c as u32 >= 0x2E80;
        if wide {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c == ' ' {
            word.push(c);
            out.push(std::mem::take(&mut word));
        } else {
            if word.ends_with(' ') {
                out.push(std::mem::take(&mut word));
            }
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[derive(Debug, Clone)]
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        grey: u8,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        grey: u8,
    },
    Qr {
        x: f32,
        y: f32,
        module: f32,
        runs: Vec<(usize, usize, usize)>,
    },
}

/// Pages being laid out, with a cursor on the last.
pub struct Flow<'a> {
    pub m: &'a Metrics<'a>,
    pages: Vec<Vec<Op>>,
    pub y: f32,
}

impl<'a> Flow<'a> {
    pub fn new(m: &'a Metrics<'a>) -> Self {
        Flow {
            m,
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
    }

    /// Room for `h` more points on this page, or a new page.
    pub fn need(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }

    fn op(&mut self, op: Op) {
        self.pages.last_mut().expect("a page").push(op);
    }

    /// Text at a place, on one line, as it is.
    pub fn text_at(&mut self, x: f32, baseline: f32, size: f32, grey: u8, text: &str) {
        self.op(Op::Text {
            x,
            y: baseline,
            size,
            grey,
            text: text.to_string(),
        });
    }

    /// A paragraph from `x` to the right margin, wrapped; the cursor goes below it.
    pub fn para(&mut self, x: f32, size: f32, grey: u8, text: &str) {
        let lead = size * 1.55;
        for line in self.m.wrap(text, size, PAGE_W - MARGIN - x) {
            self.need(lead);
            self.y += lead;
            let base = self.y - lead * 0.3;
            self.text_at(x, base, size, grey, &line);
        }
    }

    pub fn gap(&mut self, h: f32) {
        self.y += h;
    }

    pub fn heading(&mut self, text: &str) {
        self.need(60.0);
        self.gap(10.0);
        self.para(MARGIN, 14.0, 0, text);
        self.rule(0.8, 90);
        self.gap(4.0);
    }

    pub fn rule(&mut self, thickness: f32, grey: u8) {
        let y = self.y + 2.0;
        self.op(Op::Rect {
            x: MARGIN,
            y,
            w: BODY_W,
            h: thickness,
            grey,
        });
        self.y += thickness + 4.0;
    }

    /// A label in grey and its value beside it, the value wrapped in its column.
    pub fn row(&mut self, label: &str, value: &str) {
        let size = 10.5;
        let lead = size * 1.55;
        let label_w = 104.0;
        let lines = self.m.wrap(value, size, BODY_W - label_w);
        self.need(lead * lines.len().min(3) as f32);
        let mut first = true;
        for line in lines {
            self.need(lead);
            self.y += lead;
            let base = self.y - lead * 0.3;
            if first {
                self.text_at(MARGIN, base, size, 85, label);
                first = false;
            }
            self.text_at(MARGIN + label_w, base, size, 0, &line);
        }
    }

    /// A QR code with its top-left corner at (x, y), `side` points wide with its quiet zone.
    pub fn qr(&mut self, x: f32, y: f32, side: f32, code: &super::super::qr::Matrix) {
        let module = side / (code.width + 8) as f32;
        self.op(Op::Qr {
            x: x + 4.0 * module,
            y: y + 4.0 * module,
            module,
            runs: code.runs(),
        });
    }

    /// Draws every page, with `footer(n, total)` at the foot of each.
    pub fn finish(
        self,
        font: &Font,
        footer: impl Fn(usize, usize) -> String,
        metadata: krilla::metadata::Metadata,
    ) -> Result<Vec<u8>, String> {
        let total = self.pages.len();
        let mut doc = krilla::Document::new();
        doc.set_metadata(metadata);
        for (i, ops) in self.pages.into_iter().enumerate() {
            let settings =
                krilla::page::PageSettings::from_wh(PAGE_W, PAGE_H).ok_or("page size")?;
            let mut page = doc.start_page_with(settings);
            let mut s = page.surface();
            let foot = footer(i + 1, total);
            let all = ops.into_iter().chain(std::iter::once(Op::Text {
                x: MARGIN,
                y: FOOTER_Y,
                size: 8.5,
                grey: 85,
                text: foot,
            }));
            for op in all {
                match op {
                    Op::Text {
                        x,
                        y,
                        size,
                        grey,
                        text,
                    } => {
                        s.set_fill(Some(fill(grey)));
                        let glyphs = self.m.glyph_run(&text);
                        s.draw_glyphs(
                            Point::from_xy(x, y),
                            &glyphs,
                            font.clone(),
                            &text,
                            size,
                            false,
                        );
                    }
                    Op::Rect { x, y, w, h, grey } => {
                        s.set_fill(Some(fill(grey)));
                        if let Some(path) = rect_path(&[(x, y, w, h)]) {
                            s.draw_path(&path);
                        }
                    }
                    Op::Qr { x, y, module, runs } => {
                        s.set_fill(Some(fill(0)));
                        let rects: Vec<(f32, f32, f32, f32)> = runs
                            .iter()
                            .map(|&(cx, cy, n)| {
                                (
                                    x + cx as f32 * module,
                                    y + cy as f32 * module,
                                    n as f32 * module,
                                    module,
                                )
                            })
                            .collect();
                        if let Some(path) = rect_path(&rects) {
                            s.draw_path(&path);
                        }
                    }
                }
            }
            s.finish();
            page.finish();
        }
        doc.finish().map_err(|e| format!("PDF: {e:?}"))
    }
}

fn fill(grey: u8) -> Fill {
    Fill {
        paint: rgb::Color::new(grey, grey, grey).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn rect_path(rects: &[(f32, f32, f32, f32)]) -> Option<krilla::geom::Path> {
    let mut pb = PathBuilder::new();
    for &(x, y, w, h) in rects {
        pb.push_rect(Rect::from_xywh(x, y, w, h)?);
    }
    pb.finish()
}

#[cfg(test)]
mod tests {
    use super::tokens;

    #[test]
    fn cjk_breaks_anywhere_latin_at_spaces() {
        assert_eq!(tokens("信用 ok go"), vec!["信", "用", " ", "ok ", "go"]);
        assert_eq!(tokens("sha256:abc"), vec!["sha256:abc"]);
    }
}
