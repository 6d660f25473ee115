//! `picobert plot`: loss and accuracy curves from `metrics.jsonl` to a PNG.

use crate::train::png::Canvas;
use clap::Args as ClapArgs;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// A run directory (reads DIR/metrics.jsonl) or a metrics.jsonl file.
    pub metrics: PathBuf,
    /// Output PNG [default: curves.png next to metrics.jsonl].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

type Series = Vec<(f64, f64)>;

const BLUE: [u8; 3] = [31, 119, 180];
const RED: [u8; 3] = [214, 39, 40];
const GREEN: [u8; 3] = [44, 160, 44];
const ORANGE: [u8; 3] = [255, 127, 14];
const GREY: [u8; 3] = [220, 220, 220];
const BLACK: [u8; 3] = [0, 0, 0];

pub fn run(a: Args) -> Result<(), String> {
    let file = if a.metrics.is_dir() {
        a.metrics.join("metrics.jsonl")
    } else {
        a.metrics.clone()
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut s: [Series; 6] = Default::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", file.display(), i + 1))?;
        let Some(step) = v.get("step").and_then(|x| x.as_f64()) else {
            continue;
        };
        let eval = v.get("split").and_then(|x| x.as_str()) == Some("eval");
        let off = if eval { 3 } else { 0 };
        for (k, key) in ["loss", "mlm_acc", "nsp_acc"].iter().enumerate() {
            if let Some(y) = v
                .get(*key)
                .and_then(|x| x.as_f64())
                .filter(|y| y.is_finite())
            {
                s[off + k].push((step, y));
            }
        }
    }
    if s[0].is_empty() && s[3].is_empty() {
        return Err(format!("{}: no metric rows", file.display()));
    }
    let out = a.out.unwrap_or_else(|| file.with_file_name("curves.png"));
    let mut c = Canvas::new(900, 760);
    panel(
        &mut c,
        20,
        "loss",
        &[(&s[0], BLUE, "train"), (&s[3], RED, "eval")],
        None,
    );
    panel(
        &mut c,
        400,
        "accuracy",
        &[
            (&s[1], BLUE, "mlm"),
            (&s[2], GREEN, "nsp"),
            (&s[4], RED, "eval mlm"),
            (&s[5], ORANGE, "eval nsp"),
        ],
        Some((0.0, 1.0)),
    );
    crate::fsutil::write_atomic(&out, &c.to_png())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// One chart 340 px high starting at `top`.
fn panel(
    c: &mut Canvas,
    top: i64,
    title: &str,
    series: &[(&Series, [u8; 3], &str)],
    y_range: Option<(f64, f64)>,
) {
    let (left, right, bottom) = (90i64, 880i64, top + 300);
    let plot_top = top + 30;
    let pts = series.iter().flat_map(|(s, _, _)| s.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if let Some(r) = y_range {
        (y0, y1) = r;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let px = |x: f64| left + ((x - x0) / (x1 - x0) * (right - left) as f64) as i64;
    let py = |y: f64| bottom - ((y - y0) / (y1 - y0) * (bottom - plot_top) as f64) as i64;
    for i in 0..=4 {
        let y = y0 + (y1 - y0) * i as f64 / 4.0;
        c.rect(left, py(y), right, py(y), GREY);
        c.text(left - 80, py(y) - 7, &format!("{y:.3}"), BLACK);
        let x = x0 + (x1 - x0) * i as f64 / 4.0;
        c.rect(px(x), plot_top, px(x), bottom, GREY);
        c.text(px(x) - 20, bottom + 8, &format!("{x:.0}"), BLACK);
    }
    c.rect(left, bottom, right, bottom + 1, BLACK);
    c.rect(left - 1, plot_top, left, bottom, BLACK);
    c.text(left, top, title, BLACK);
    let mut lx = left + 160;
    for (s, color, name) in series {
        for w in s.windows(2) {
            c.line((px(w[0].0), py(w[0].1)), (px(w[1].0), py(w[1].1)), *color);
        }
        if s.len() == 1 {
            c.rect(
                px(s[0].0) - 2,
                py(s[0].1) - 2,
                px(s[0].0) + 2,
                py(s[0].1) + 2,
                *color,
            );
        }
        c.rect(lx, top + 2, lx + 14, top + 12, *color);
        c.text(lx + 20, top, name, BLACK);
        lx += 20 + 12 * name.len() as i64 + 30;
    }
}
