//! Draws the README's pictures from SQL results (tab-separated, as `psql -At -F $'\t'` writes
//! them), so nobody has to export embeddings to Python to look at them:
//!
//! - `pgrec-plot map IN.tsv OUT.png`: rows `x, y, group, label` (for example the first two
//!   `pgrec.pca` coordinates of each movie, its first genre, and its title or an empty label);
//!   one dot per row coloured by group (the 8 largest groups, the rest grey), labels written
//!   next to their dots.
//! - `pgrec-plot curves IN.tsv OUT.png`: rows `series, x, y` (for example
//!   `pgrec.training_history`'s train and validation RMSE per epoch); one line per series.
//!
//! Text uses DejaVu Sans (`fonts-dejavu-core`, installed by scripts/setup.sh) or the font file
//! named by PGREC_PLOT_FONT.

use std::collections::HashMap;
use std::error::Error;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

type Res<T> = Result<T, Box<dyn Error>>;

/// A named line: (series name, its (x, y) points in x order).
type Series = (String, Vec<(f64, f64)>);

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// One dot of the map.
#[derive(Debug, Clone, PartialEq)]
struct Dot {
    x: f64,
    y: f64,
    group: String,
    label: String,
}

fn parse_map(text: &str) -> Res<Vec<Dot>> {
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            return Err(format!("line {}: expected x, y, group[, label]", n + 1).into());
        }
        out.push(Dot {
            x: f[0].trim().parse()?,
            y: f[1].trim().parse()?,
            group: f[2].trim().to_string(),
            label: f.get(3).map(|s| s.trim().to_string()).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The groups in order of size (largest first, ties by name); those past the palette are
/// drawn grey as "other".
fn groups_by_size(dots: &[Dot]) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for d in dots {
        *counts.entry(d.group.as_str()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(g, c)| (g.to_string(), c))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// The range of `v` with a 5% margin on each side.
fn padded(v: impl Iterator<Item = f64> + Clone) -> std::ops::Range<f64> {
    let lo = v.clone().fold(f64::INFINITY, f64::min);
    let hi = v.fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad)..(hi + pad)
}

fn draw_map(dots: &[Dot], out: &str) -> Res<()> {
    let root = BitMapBackend::new(out, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "MovieLens-100K item map: pgrec.pca of the ials item vectors",
            ("sans-serif", 26),
        )
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(
            padded(dots.iter().map(|d| d.x)),
            padded(dots.iter().map(|d| d.y)),
        )?;
    chart
        .configure_mesh()
        .x_desc("first principal component")
        .y_desc("second principal component")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let groups = groups_by_size(dots);
    let colour: HashMap<&str, RGBColor> = groups
        .iter()
        .zip(PALETTE)
        .map(|((g, _), c)| (g.as_str(), c))
        .collect();
    let grey = RGBColor(190, 190, 190);
    // grey first, so the coloured groups are drawn on top
    chart.draw_series(
        dots.iter()
            .filter(|d| !colour.contains_key(d.group.as_str()))
            .map(|d| Circle::new((d.x, d.y), 3, grey.filled())),
    )?;
    for (g, n) in groups.iter().take(PALETTE.len()) {
        let c = colour[g.as_str()];
        chart
            .draw_series(
                dots.iter()
                    .filter(|d| &d.group == g)
                    .map(|d| Circle::new((d.x, d.y), 3, c.mix(0.8).filled())),
            )?
            .label(format!("{g} ({n})"))
            .legend(move |(x, y)| Circle::new((x, y), 5, c.filled()));
    }
    chart.draw_series(dots.iter().filter(|d| !d.label.is_empty()).map(|d| {
        Text::new(
            d.label.clone(),
            (d.x, d.y),
            ("sans-serif", 15).into_font().color(&BLACK),
        )
    }))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}

fn parse_curves(text: &str) -> Res<Vec<Series>> {
    let mut series: Vec<Series> = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 3 {
            return Err(format!("line {}: expected series, x, y", n + 1).into());
        }
        let (name, x, y) = (f[0].trim(), f[1].trim().parse()?, f[2].trim().parse()?);
        match series.iter_mut().find(|s| s.0 == name) {
            Some(s) => s.1.push((x, y)),
            None => series.push((name.to_string(), vec![(x, y)])),
        }
    }
    for s in &mut series {
        s.1.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(series)
}

fn draw_curves(series: &[Series], out: &str) -> Res<()> {
    let root = BitMapBackend::new(out, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let all = || series.iter().flat_map(|s| s.1.iter());
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Training curves from pgrec.training_history",
            ("sans-serif", 24),
        )
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(padded(all().map(|p| p.0)), padded(all().map(|p| p.1)))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("RMSE")
        .draw()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}

fn load_font() -> Res<()> {
    let path = std::env::var("PGREC_PLOT_FONT")
        .unwrap_or_else(|_| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into());
    let bytes: &'static [u8] = Box::leak(
        std::fs::read(&path)
            .map_err(|e| {
                format!("font {path}: {e} (install fonts-dejavu-core or set PGREC_PLOT_FONT)")
            })?
            .into_boxed_slice(),
    );
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{path} is not a font"))?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(what), Some(input), Some(out)) = (args.get(1), args.get(2), args.get(3)) else {
        return Err("usage: pgrec-plot map|curves IN.tsv OUT.png".into());
    };
    load_font()?;
    let text = std::fs::read_to_string(input)?;
    match what.as_str() {
        "map" => draw_map(&parse_map(&text)?, out),
        "curves" => draw_curves(&parse_curves(&text)?, out),
        other => Err(format!("unknown picture \"{other}\": map or curves").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_rows_parse_and_groups_come_largest_first() {
        let dots = parse_map("0.5\t-1\tDrama\tStar Wars\n1\t2\tComedy\t\n3\t4\tDrama\n\n").unwrap();
        assert_eq!(dots.len(), 3);
        assert_eq!(dots[0].label, "Star Wars");
        assert_eq!(dots[2].label, "");
        assert_eq!(
            groups_by_size(&dots),
            vec![("Drama".into(), 2), ("Comedy".into(), 1)]
        );
        assert!(parse_map("1\t2\n").is_err());
        assert!(parse_map("x\t2\tDrama\n").is_err());
    }

    #[test]
    fn curves_group_by_series_in_x_order() {
        let s = parse_curves("train\t2\t0.8\nvalid\t1\t0.95\ntrain\t1\t0.9\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], ("train".into(), vec![(1.0, 0.9), (2.0, 0.8)]));
        assert!(parse_curves("train\t1\n").is_err());
    }

    #[test]
    fn padded_ranges_contain_every_value() {
        let r = padded([1.0, 3.0].into_iter());
        assert!(r.start < 1.0 && r.end > 3.0);
        let flat = padded([2.0].into_iter());
        assert!(flat.start < 2.0 && flat.end > 2.0);
    }
}
