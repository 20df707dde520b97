//! A small page model over printpdf: pages of drawing operations in points measured from the
//! top-left corner, a flowing cursor that starts a new page when a block does not fit, and the
//! deterministic serialisation with header and footer on every page.

use chrono::{DateTime, Utc};
use printpdf::{
    BuiltinFont, Color, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, RawImage, RawImageData, RawImageFormat, Rect, TextItem, XObject,
    XObjectId, XObjectTransform,
};
use sha2::{Digest, Sha256};

use super::ReportError;
use super::text;

/// A4 width in points (210 mm).
pub(crate) const PAGE_W: f32 = 595.276;
/// A4 height in points (297 mm).
pub(crate) const PAGE_H: f32 = 841.89;
/// Left and right margin (15 mm).
pub(crate) const MARGIN: f32 = 42.5;
/// Where the body starts, below the header.
pub(crate) const BODY_TOP: f32 = 72.0;
/// Where the body ends, above the footer.
pub(crate) const BODY_BOTTOM: f32 = PAGE_H - 54.0;
/// Usable body width.
pub(crate) const BODY_W: f32 = PAGE_W - 2.0 * MARGIN;

/// An RGB colour with components in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rgb(pub f32, pub f32, pub f32);

impl Rgb {
    pub(crate) const BLACK: Rgb = Rgb(0.0, 0.0, 0.0);
    pub(crate) const GREY: Rgb = Rgb(0.45, 0.45, 0.45);
    pub(crate) const LIGHT: Rgb = Rgb(0.85, 0.85, 0.85);
    pub(crate) const STRIPE: Rgb = Rgb(0.95, 0.95, 0.95);

    fn colour(self) -> Color {
        // Clamp: printpdf warns about, and viewers may reject, components outside 0..=1.
        let c = |v: f32| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        Color::Rgb(printpdf::Rgb {
            r: c(self.0),
            g: c(self.1),
            b: c(self.2),
            icc_profile: None,
        })
    }
}

/// Horizontal alignment of a text run relative to its x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Centre,
    Right,
}

/// The drawing operations of one page.
#[derive(Debug, Default)]
pub(crate) struct Page {
    ops: Vec<Op>,
}

fn point(x: f32, y_from_top: f32) -> Point {
    Point {
        x: Pt(x),
        y: Pt(PAGE_H - y_from_top),
    }
}

fn finite(values: &[f32]) -> bool {
    values.iter().all(|v| v.is_finite())
}

impl Page {
    /// Draws `s` with its baseline at `y`; the text is sanitised for the built-in font here.
    #[allow(clippy::too_many_arguments)] // a text run simply has this many properties
    pub(crate) fn text(
        &mut self,
        s: &str,
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        colour: Rgb,
        align: Align,
    ) {
        let s = text::sanitize(s);
        let w = text::width(&s, size, bold);
        let x = match align {
            Align::Left => x,
            Align::Centre => x - w / 2.0,
            Align::Right => x - w,
        };
        if s.is_empty() || !finite(&[x, y, size]) {
            return;
        }
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        self.ops.extend([
            Op::SetFillColor {
                col: colour.colour(),
            },
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor { pos: point(x, y) },
            Op::ShowText {
                items: vec![TextItem::Text(s)],
            },
            Op::EndTextSection,
        ]);
    }

    /// Draws `s` shortened with "..." to fit in `max` points.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn text_fit(
        &mut self,
        s: &str,
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        colour: Rgb,
        max: f32,
    ) {
        let fitted = text::fit(&text::sanitize(s), size, bold, max);
        self.text(&fitted, x, y, size, bold, colour, Align::Left);
    }

    /// Strokes a polyline through `points`.
    pub(crate) fn polyline(&mut self, points: &[(f32, f32)], width: f32, colour: Rgb) {
        if points.len() < 2 || !points.iter().all(|&(x, y)| finite(&[x, y])) {
            return;
        }
        self.ops.extend([
            Op::SetOutlineColor {
                col: colour.colour(),
            },
            Op::SetOutlineThickness { pt: Pt(width) },
            Op::DrawLine {
                line: Line {
                    points: points
                        .iter()
                        .map(|&(x, y)| LinePoint {
                            p: point(x, y),
                            bezier: false,
                        })
                        .collect(),
                    is_closed: false,
                },
            },
        ]);
    }

    /// Strokes a straight line.
    pub(crate) fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, colour: Rgb) {
        self.polyline(&[from, to], width, colour);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, mode: PaintMode) {
        if !finite(&[x, y, w, h]) || w <= 0.0 || h <= 0.0 {
            return;
        }
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x),
                y: Pt(PAGE_H - y - h),
                width: Pt(w),
                height: Pt(h),
                mode: Some(mode),
                winding_order: None,
            },
        });
    }

    /// Fills the rectangle whose top-left corner is (x, y).
    pub(crate) fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Rgb) {
        self.ops.push(Op::SetFillColor {
            col: colour.colour(),
        });
        self.rect(x, y, w, h, PaintMode::Fill);
    }

    /// Outlines the rectangle whose top-left corner is (x, y).
    pub(crate) fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, width: f32, colour: Rgb) {
        self.ops.extend([
            Op::SetOutlineColor {
                col: colour.colour(),
            },
            Op::SetOutlineThickness { pt: Pt(width) },
        ]);
        self.rect(x, y, w, h, PaintMode::Stroke);
    }

    /// Places an image added with [`Doc::add_image`] in the box with top-left corner (x, y).
    pub(crate) fn image(&mut self, id: &ImageId, x: f32, y: f32, w: f32, h: f32) {
        if !finite(&[x, y, w, h]) || w <= 0.0 || h <= 0.0 {
            return;
        }
        self.ops.push(Op::UseXobject {
            id: XObjectId(id.0.clone()),
            // An image is a unit square in its own space: scale it to the box, then move it.
            transform: XObjectTransform {
                translate_x: Some(Pt(x)),
                translate_y: Some(Pt(PAGE_H - y - h)),
                scale_x: Some(w),
                scale_y: Some(h),
                no_auto_scale: true,
                ..Default::default()
            },
        });
    }
}

/// The resource name of an embedded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageId(String);

/// What goes in the header, footer and document information of every page.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// Document title (information dictionary) and right side of the header.
    pub title: String,
    /// Left side of the header: trial and subject.
    pub header: String,
    /// Left side of the footer: who made it, when, from which lock.
    pub footer: String,
    /// The software that made the document (information dictionary Creator/Producer).
    pub generated_by: String,
    /// Creation and modification date.
    pub generated_at: DateTime<Utc>,
}

/// A document being laid out: its pages, its images and a cursor that flows down the pages.
#[derive(Debug)]
pub(crate) struct Doc {
    pages: Vec<Page>,
    images: Vec<(ImageId, RawImage)>,
    /// Where the next block goes on the last page, from the top.
    pub y: f32,
}

impl Doc {
    pub(crate) fn new() -> Self {
        Doc {
            pages: vec![Page::default()],
            images: Vec::new(),
            y: BODY_TOP,
        }
    }

    /// The page being filled.
    pub(crate) fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::default());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Starts a new page and puts the cursor at the top of its body.
    pub(crate) fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.y = BODY_TOP;
    }

    /// Starts a new page unless `height` points still fit below the cursor. A block taller
    /// than a whole body goes on a fresh page (and is cut by the page edge, which callers avoid
    /// by sizing blocks to the body).
    pub(crate) fn ensure(&mut self, height: f32) {
        if self.y + height > BODY_BOTTOM && self.y > BODY_TOP {
            self.new_page();
        }
    }

    /// Starts a new page unless the current one is still empty.
    pub(crate) fn break_page(&mut self) {
        if self.y > BODY_TOP {
            self.new_page();
        }
    }

    /// Adds an 8-bit RGB image (row-major, top row first) and returns its name.
    pub(crate) fn add_image(&mut self, rgb: Vec<u8>, width: usize, height: usize) -> ImageId {
        // Fixed names (not printpdf's generated ones) keep the output byte-identical.
        let id = ImageId(format!("Im{}", self.images.len() + 1));
        self.images.push((
            id.clone(),
            RawImage {
                pixels: RawImageData::U8(rgb),
                width,
                height,
                data_format: RawImageFormat::RGB8,
                tag: Vec::new(),
            },
        ));
        id
    }

    /// A section title at the cursor.
    pub(crate) fn heading(&mut self, s: &str) {
        self.ensure(40.0);
        let y = self.y + 14.0;
        self.page()
            .text(s, MARGIN, y, 13.0, true, Rgb::BLACK, Align::Left);
        self.y += 24.0;
    }

    /// Lays out header and footer on every page and writes the PDF.
    pub(crate) fn finish(self, frame: &Frame) -> Result<Vec<u8>, ReportError> {
        let total = self.pages.len();
        let mut pdf = PdfDocument::new(&text::sanitize(&frame.title));
        let date = pdf_date(frame.generated_at);
        let info = &mut pdf.metadata.info;
        info.creation_date = date;
        info.modification_date = date;
        info.metadata_date = date;
        info.creator = frame.generated_by.clone();
        info.producer = frame.generated_by.clone();
        info.subject = frame.header.clone();
        for (id, image) in self.images {
            pdf.resources
                .xobjects
                .map
                .insert(XObjectId(id.0), XObject::Image(image));
        }
        let pages = self
            .pages
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let mut page = Page::default();
                draw_frame(&mut page, frame, i + 1, total);
                page.ops.extend(body.ops);
                PdfPage::new(Mm(210.0), Mm(297.0), page.ops)
            })
            .collect();
        pdf.with_pages(pages);
        serialise(&pdf)
    }
}

fn draw_frame(page: &mut Page, frame: &Frame, n: usize, total: usize) {
    let right = PAGE_W - MARGIN;
    let title_w = text::width(&text::sanitize(&frame.title), 9.0, true);
    page.text_fit(
        &frame.header,
        MARGIN,
        44.0,
        10.0,
        true,
        Rgb::BLACK,
        BODY_W - title_w - 12.0,
    );
    page.text(
        &frame.title,
        right,
        44.0,
        9.0,
        true,
        Rgb::GREY,
        Align::Right,
    );
    page.line((MARGIN, 52.0), (right, 52.0), 0.6, Rgb::GREY);
    let foot = PAGE_H - 30.0;
    page.line((MARGIN, foot - 12.0), (right, foot - 12.0), 0.4, Rgb::LIGHT);
    let number = format!("page {n} of {total}");
    let number_w = text::width(&number, 8.0, false);
    page.text_fit(
        &frame.footer,
        MARGIN,
        foot,
        8.0,
        false,
        Rgb::GREY,
        BODY_W - number_w - 12.0,
    );
    page.text(&number, right, foot, 8.0, false, Rgb::GREY, Align::Right);
}

fn pdf_date(at: DateTime<Utc>) -> printpdf::OffsetDateTime {
    printpdf::OffsetDateTime::from_unix_timestamp(at.timestamp())
        .or_else(|_| printpdf::OffsetDateTime::from_unix_timestamp(0))
        .unwrap_or_else(|_| printpdf::PdfDocumentInfo::default().creation_date)
}

/// Writes the document with a trailer `/ID` computed from the document itself.
///
/// printpdf fills `/ID` from a process-wide counter, so two runs would differ. PDF 32000-1
/// 14.4 only asks that the ID be unique to the document; a hash of the file written with a
/// fixed placeholder ID is exactly that, and makes the output reproducible.
fn serialise(pdf: &PdfDocument) -> Result<Vec<u8>, ReportError> {
    let opts = PdfSaveOptions {
        optimize: true,
        subset_fonts: false,
        secure: true,
        image_optimization: None,
    };
    let mut warnings = Vec::new();
    let mut doc = pdf.to_lopdf_document(&opts, &mut warnings);
    doc.compress();
    set_id(&mut doc, &[0; 16]);
    let mut probe = Vec::new();
    doc.clone()
        .save_to(&mut probe)
        .map_err(|e| ReportError::Write(e.to_string()))?;
    let digest = Sha256::digest(&probe);
    set_id(&mut doc, &digest[..16]);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| ReportError::Write(e.to_string()))?;
    Ok(out)
}

fn set_id(doc: &mut lopdf::Document, id: &[u8]) {
    let part = || lopdf::Object::String(id.to_vec(), lopdf::StringFormat::Hexadecimal);
    doc.trailer
        .set("ID", lopdf::Object::Array(vec![part(), part()]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame {
            title: "test".into(),
            header: "trial T".into(),
            footer: "made by test".into(),
            generated_by: "corelab test".into(),
            generated_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn report_pdf_same_document_gives_same_bytes() {
        let make = || {
            let mut doc = Doc::new();
            doc.page()
                .text("hello", 50.0, 100.0, 12.0, false, Rgb::BLACK, Align::Left);
            let id = doc.add_image(vec![255, 0, 0, 0, 255, 0], 2, 1);
            doc.page().image(&id, 50.0, 120.0, 100.0, 50.0);
            doc.finish(&frame())
        };
        let a = make().unwrap();
        let b = make().unwrap();
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, b);
        let body = String::from_utf8_lossy(&a);
        assert!(
            body.contains("D:20231114221320"),
            "creation date from the input"
        );
    }

    #[test]
    fn report_pdf_skips_non_finite_geometry() {
        let mut page = Page::default();
        page.polyline(&[(0.0, 0.0), (f32::NAN, 1.0)], 1.0, Rgb::BLACK);
        page.fill_rect(0.0, 0.0, f32::INFINITY, 1.0, Rgb::BLACK);
        page.text("x", f32::NAN, 1.0, 10.0, false, Rgb::BLACK, Align::Left);
        // Only the fill colour of the rectangle was recorded.
        assert_eq!(page.ops.len(), 1);
    }
}
