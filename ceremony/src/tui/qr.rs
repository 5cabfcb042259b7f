//! A QR code drawn with Unicode half blocks: two rows of modules per line of text.
//!
//! Light modules (and the quiet zone) are drawn as blocks in the foreground colour, dark modules
//! as spaces, with an explicit white-on-black style, so the code scans the same on dark and light
//! terminal themes.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of quiet zone around the code.
const QUIET: usize = 2;

/// The lines of a QR code of `data` (error correction level M), or `None` if it does not fit.
pub fn lines(data: &str) -> Option<Vec<String>> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET;
    let dark = |x: usize, y: usize| -> bool {
        if x < QUIET || y < QUIET || x >= width + QUIET || y >= width + QUIET {
            return false;
        }
        colors[(y - QUIET) * width + (x - QUIET)] == Color::Dark
    };
    let mut out = Vec::with_capacity(size.div_ceil(2));
    for y in (0..size).step_by(2) {
        let mut line = String::with_capacity(size * 3);
        for x in 0..size {
            let top = !dark(x, y);
            let bottom = y + 1 < size && !dark(x, y + 1);
            line.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push(line);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_fits_in_a_small_square() {
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let l = lines(digest).unwrap();
        let w = l[0].chars().count();
        assert!(w <= 45, "width {w}");
        assert_eq!(l.len(), w.div_ceil(2));
        assert!(l.iter().all(|r| r.chars().count() == w));
        // The quiet zone is light: the first line is all full blocks.
        assert!(l[0].chars().all(|c| c == '█'));
    }

    #[test]
    fn modules_round_trip_through_half_blocks() {
        let data = "hello";
        let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).unwrap();
        let width = code.width();
        let colors = code.to_colors();
        let l: Vec<Vec<char>> = lines(data)
            .unwrap()
            .iter()
            .map(|r| r.chars().collect())
            .collect();
        for y in 0..width {
            for x in 0..width {
                let (yy, xx) = (y + QUIET, x + QUIET);
                let c = l[yy / 2][xx];
                let light = if yy % 2 == 0 {
                    matches!(c, '█' | '▀')
                } else {
                    matches!(c, '█' | '▄')
                };
                assert_eq!(
                    light,
                    colors[y * width + x] == Color::Light,
                    "module {x},{y}"
                );
            }
        }
    }
}
