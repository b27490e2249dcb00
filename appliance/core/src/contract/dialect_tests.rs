use super::*;

fn contract(extra: &str) -> Contract {
    Contract::from_toml(
            &format!(
                "name='t'\nversion=1\nnull_tokens=['', 'NA']\n{extra}\n[[columns]]\nname='a'\ntype='integer'\n[[columns]]\nname='s'\ntype='string'\nnullable=true\n[[columns]]\nname='t'\ntype='timestamp'\nnullable=true\n"
            ),
            "t",
        )
        .expect("contract")
}

#[test]
fn crlf_blank_lines_are_skipped_and_lines_numbered_right() {
    let c = contract("");
    let mut lines = Vec::new();
    let csv = "a,s,t\r\n1, x ,\r\n\r\n2,y,\r\n";
    let mut rows = CsvRows::open(&c, csv.as_bytes(), "f").expect("open");
    while let Some(r) = rows.next_record().expect("record") {
        let cells = r.cells.expect("fits");
        lines.push((
            r.row,
            r.line,
            cells.iter().map(str::to_string).collect::<Vec<_>>(),
        ));
    }
    assert_eq!(
        lines,
        [
            (1, 2, vec!["1".into(), "x".into(), String::new()]),
            (2, 4, vec!["2".into(), "y".into(), String::new()])
        ]
    );
}

#[test]
fn a_timestamp_with_multibyte_text_is_a_type_error_not_a_panic() {
    assert_eq!(parse_timestamp("2026-11-23T13:05:0é"), None);
    assert_eq!(parse_timestamp("2026-11-23é13:05:00Z"), None);
    let c = contract("");
    assert!(c.parse_cell(2, "2026-11-23T13:05:0é").is_err());
    assert_eq!(
        parse_timestamp("2026-11-23 14:05:00.25+01:00"),
        parse_timestamp("2026-11-23T13:05:00Z")
    );
}

#[test]
fn requests_are_read_as_csv_cells_are() {
    let c = contract("");
    // Padding, null tokens, numbers for text columns.
    assert_eq!(
        c.parse_json(1, &serde_json::json!(" x ")),
        c.parse_cell(1, "x")
    );
    assert_eq!(c.parse_json(1, &serde_json::json!(" NA")), Ok(Value::Null));
    assert_eq!(
        c.parse_json(1, &serde_json::json!(12)),
        Ok(Value::Text("12".into()))
    );
    assert_eq!(
        c.parse_json(0, &serde_json::json!(" 7 ")),
        Ok(Value::Int(7))
    );
    let untrimmed = contract("[csv]\ntrim = false");
    assert_eq!(
        untrimmed.parse_json(1, &serde_json::json!(" x ")),
        Ok(Value::Text(" x ".into()))
    );
}

#[test]
fn a_record_longer_than_the_cap_is_refused() {
    let c = contract("");
    let mut csv = String::from("a,s,t\n1,\"");
    csv.push_str(&"x".repeat((MAX_RECORD + 1024 * 1024) as usize));
    let mut rows = CsvRows::open(&c, csv.as_bytes(), "f").expect("open");
    let err = rows.next_record().expect_err("too long").to_string();
    assert!(err.contains("unterminated quote"), "{err}");
}

#[test]
fn a_nul_byte_in_a_cell_is_refused() {
    let c = contract("");
    let (rule, expected, found) = c.parse_cell(1, "ab\0cd").expect_err("NUL in a string");
    assert_eq!(rule, crate::check::Rule::Type);
    assert_eq!(expected, "a value without NUL bytes");
    assert_eq!(found, "\"ab\\0cd\"", "shown escaped");
    assert!(
        c.parse_json(1, &serde_json::json!("x\u{0}")).is_err(),
        "in a request"
    );
    assert!(c.parse_cell(0, "1\0").is_err(), "in a number");
    assert_eq!(
        c.parse_cell(1, "ab\tcd"),
        Ok(Value::Text("ab\tcd".into())),
        "a tab is data"
    );
}
