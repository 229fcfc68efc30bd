//! The one table the bench prints: each row's figure, the ceiling measured in
//! the same run, and their ratio (which survives a noisy machine where the
//! absolute numbers do not), with the machine it ran on above it.

use std::fmt::Write as _;

/// A measured figure.
#[derive(Clone, Debug)]
pub enum Figure {
    PerSecond(f64),
    Millis(f64),
    Seconds(f64),
    /// Not a number: skipped, failed, not run.
    Text(String),
}

impl Figure {
    fn value(&self) -> Option<f64> {
        match self {
            Figure::PerSecond(v) | Figure::Millis(v) | Figure::Seconds(v) => Some(*v),
            Figure::Text(_) => None,
        }
    }

    fn same_unit(&self, other: &Figure) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Figure::PerSecond(v) => write!(f, "{}/s", thousands(*v)),
            Figure::Millis(v) => write!(f, "{v:.2} ms"),
            Figure::Seconds(v) => write!(f, "{v:.1} s"),
            Figure::Text(text) => f.write_str(text),
        }
    }
}

/// `25310.4` → `25,310`.
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if value < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// One line of the table.
pub struct Row {
    pub id: String,
    pub what: String,
    pub hub: Figure,
    pub ceiling: Option<Figure>,
    pub note: String,
}

impl Row {
    pub fn new(id: &str, what: &str, hub: Figure) -> Row {
        Row {
            id: id.into(),
            what: what.into(),
            hub,
            ceiling: None,
            note: String::new(),
        }
    }

    pub fn ceiling(mut self, ceiling: Figure) -> Row {
        self.ceiling = Some(ceiling);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    fn ratio(&self) -> String {
        let Some(ceiling) = &self.ceiling else {
            return "—".into();
        };
        match (self.hub.value(), ceiling.value()) {
            (Some(hub), Some(base)) if self.hub.same_unit(ceiling) && base > 0.0 => {
                let ratio = hub / base;
                if ratio < 1.0 {
                    format!("{ratio:.3}")
                } else {
                    format!("{ratio:.2}")
                }
            }
            _ => "—".into(),
        }
    }
}

/// The rows in the order they were measured.
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "  row {}: {} {} (ceiling {})",
            row.id,
            row.what,
            row.hub,
            row.ceiling
                .as_ref()
                .map_or("—".to_string(), |c| c.to_string())
        );
        self.rows.push(row);
    }

    /// The table as Markdown, so that a run pastes into BENCHMARKS.md as it is.
    pub fn render(&self) -> String {
        let header = ["#", "measured", "hub", "ceiling", "hub/ceiling", "notes"];
        // Rows are measured in the order that needs the fewest hubs and
        // shown in the order of their numbers.
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by_key(|row| {
            row.id
                .split(' ')
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        });
        let cells: Vec<[String; 6]> = rows
            .iter()
            .map(|row| {
                [
                    row.id.clone(),
                    row.what.clone(),
                    row.hub.to_string(),
                    row.ceiling
                        .as_ref()
                        .map_or("—".to_string(), |c| c.to_string()),
                    row.ratio(),
                    row.note.clone(),
                ]
            })
            .collect();
        // The notes column is last and left ragged: padding it would only
        // make every line as long as the longest note.
        let mut widths = header.map(|h| h.chars().count());
        for line in &cells {
            for (width, cell) in widths.iter_mut().zip(line.iter()).take(5) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            out.push('|');
            for (i, cell) in cells.iter().enumerate() {
                let pad = if i < 5 {
                    widths[i].saturating_sub(cell.chars().count())
                } else {
                    0
                };
                // Figures read best right-aligned, words left-aligned.
                if (2..5).contains(&i) {
                    let _ = write!(out, " {}{cell} |", " ".repeat(pad));
                } else {
                    let _ = write!(out, " {cell}{} |", " ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(&header.map(String::from));
        let rule: Vec<String> = (0..6)
            .map(|i| {
                let dashes = "-".repeat(if i < 5 { widths[i] } else { 5 });
                if (2..5).contains(&i) {
                    format!("{}:", &dashes[1..])
                } else {
                    dashes
                }
            })
            .collect();
        line(&rule);
        for cells in &cells {
            line(cells);
        }
        out
    }
}

/// `machine: 2 cores, Intel(R) Xeon(R) Processor, Linux 6.1.0`.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("machine: {cores} cores, {model}, Linux {kernel}")
}
