//! How the CLI prints: aligned tables for people, raw JSON with `--json` for scripts.

use serde_json::Value;

use crate::civil_time::civil_from_days;

/// A plain text table: a header row, then one row per item, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ` (UTC); `-` for null.
pub fn time(value: &Value) -> String {
    match value.as_u64() {
        Some(secs) => utc(secs),
        None => "-".into(),
    }
}

pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A JSON value as a table cell: strings bare, arrays joined, null as `-`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["key_1".into(), "a".into()],
                vec!["k".into(), "long name".into()],
            ],
        );
        assert_eq!(t, "ID     NAME\nkey_1  a\nk      long name");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_795_614_566), "2026-11-25 13:49:26Z");
        assert_eq!(time(&Value::Null), "-");
    }

    #[test]
    fn cells() {
        assert_eq!(cell(&serde_json::json!(["a", "b"])), "a b");
        assert_eq!(cell(&serde_json::json!(null)), "-");
        assert_eq!(cell(&serde_json::json!(3)), "3");
    }
}
