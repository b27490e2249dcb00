use super::*;

const CONTRACT: &str = r#"
name = "t"
version = 1
null_tokens = ["", "NA"]
[[columns]]
name = "age"
type = "integer"
min = 18
max = 100
[[columns]]
name = "income"
type = "float"
nullable = true
[[columns]]
name = "housing"
type = "category"
categories = ["own", "rent"]
"#;

fn contract() -> Contract {
    Contract::from_toml(CONTRACT, "t.toml").expect("contract")
}

#[test]
fn valid_csv_parses_to_typed_rows() {
    let rows = contract()
        .read_csv(
            "age,income,housing\n30,NA,own\n40,1.5,rent\n".as_bytes(),
            "f.csv",
            &mut |_| {},
        )
        .expect("valid");
    assert_eq!(
        rows[0],
        vec![Value::Int(30), Value::Null, Value::Text("own".into())]
    );
    assert_eq!(rows[1][1], Value::Float(1.5));
}

#[test]
fn each_violation_kind_is_located() {
    let csv = "age,income,housing\n17,1,own\nabc,1,own\n30,x,own\n30,1,boat\n,1,own\n30,1\n";
    let err = contract()
        .read_csv(csv.as_bytes(), "f.csv", &mut |_| {})
        .expect_err("bad");
    let msg = err.to_string();
    assert!(msg.contains("6 violations"), "{msg}");
    assert!(
        msg.contains("row 1 (line 2), column \"age\": expected integer in [18, 100], found 17"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "row 2 (line 3), column \"age\": expected integer in [18, 100], found \"abc\""
        ),
        "{msg}"
    );
    assert!(
        msg.contains("row 3 (line 4), column \"income\": expected number, found \"x\""),
        "{msg}"
    );
    assert!(
        msg.contains(
            "row 4 (line 5), column \"housing\": expected one of [own, rent], found \"boat\""
        ),
        "{msg}"
    );
    assert!(msg.contains("row 5 (line 6), column \"age\": expected integer in [18, 100] (not nullable), found a missing value"), "{msg}");
    assert!(
        msg.contains("row 6 (line 7), column \"*\": expected 3 fields, found 2 fields"),
        "{msg}"
    );
}

#[test]
fn header_diff_names_missing_and_extra_columns() {
    let err = contract()
        .read_csv(
            "age,salary,housing\n30,1,own\n".as_bytes(),
            "f.csv",
            &mut |_| {},
        )
        .expect_err("bad header");
    let msg = err.to_string();
    assert!(msg.contains("missing columns: income"), "{msg}");
    assert!(msg.contains("extra columns: salary"), "{msg}");
}

#[test]
fn bad_contracts_are_refused() {
    let no_cats = "name='t'\nversion=1\n[[columns]]\nname='a'\ntype='category'\n";
    assert!(Contract::from_toml(no_cats, "c").is_err());
    let dup = "name='t'\nversion=1\n[[columns]]\nname='a'\ntype='float'\n[[columns]]\nname='a'\ntype='float'\n";
    assert!(Contract::from_toml(dup, "c").is_err());
    let inverted = "name='t'\nversion=1\n[[columns]]\nname='a'\ntype='float'\nmin=2\nmax=1\n";
    assert!(Contract::from_toml(inverted, "c").is_err());
    let unknown = "name='t'\nversion=1\nextra=1\n[[columns]]\nname='a'\ntype='float'\n";
    assert!(Contract::from_toml(unknown, "c").is_err());
}

#[test]
fn ignored_and_renamed_columns_read_in_contract_order() {
    let c = Contract::from_toml(
            &format!(
                "ignore = ['id', 'note']\n{}\n[[rename]]\nfrom = 'home'\nto = 'housing'\n[[rename]]\nfrom = 'age'\noccurrence = 2\nto = 'income'\n",
                CONTRACT.trim_start()
            ),
            "t.toml",
        )
        .expect("contract");
    // The ignored cells are never parsed: "x" in a float column is not a violation.
    let csv = "id,age,note,age,home\n7,30,x,1.5,own\n8,40,,NA,rent\n";
    let rows = c
        .read_csv(csv.as_bytes(), "f.csv", &mut |_| {})
        .expect("valid");
    assert_eq!(
        rows,
        [
            vec![Value::Int(30), Value::Float(1.5), Value::Text("own".into())],
            vec![Value::Int(40), Value::Null, Value::Text("rent".into())]
        ]
    );
    // A row is counted against the file's width, not the contract's.
    let err = c
        .read_csv(
            "id,age,note,age,home\n7,30,own\n".as_bytes(),
            "f.csv",
            &mut |_| {},
        )
        .expect_err("short row")
        .to_string();
    assert!(err.contains("expected 5 fields, found 3 fields"), "{err}");
    // Except for a NUL byte, which would change how other readers see the row.
    let err = c
        .read_csv(
            "id,age,note,age,home\n7,30,a\0b,1.5,own\n".as_bytes(),
            "f.csv",
            &mut |_| {},
        )
        .expect_err("NUL")
        .to_string();
    assert!(
        err.contains("column \"note (ignored)\": expected a value without NUL bytes"),
        "{err}"
    );
}

#[test]
fn a_header_less_request_file_may_leave_out_the_optional_column() {
    let c = Contract::from_toml(
        &format!(
            "{}\n[csv]\nheader = false\n{}",
            &CONTRACT[..CONTRACT.find("[[columns]]").expect("columns")],
            &CONTRACT[CONTRACT.find("[[columns]]").expect("columns")..]
        ),
        "t",
    )
    .expect("contract");
    let mut rows = CsvRows::open_with(&c, "30,1.5\n40,2\n".as_bytes(), "f", &[2]).expect("open");
    let r = rows.next_record().expect("read").expect("a record");
    assert_eq!(r.width, 2);
    let cells: Vec<&str> = r.cells.expect("fits").iter().collect();
    assert_eq!(cells, ["30", "1.5", ""]);
    let mut all = CsvRows::open_with(&c, "30,1.5,own\n".as_bytes(), "f", &[2]).expect("open");
    let r = all.next_record().expect("read").expect("a record");
    assert_eq!(r.width, 3);
    assert_eq!(r.cells.expect("fits").len(), 3);
}

#[test]
fn json_cells_follow_the_same_rules() {
    let c = contract();
    assert_eq!(c.parse_json(0, &serde_json::json!(30)), Ok(Value::Int(30)));
    assert!(c.parse_json(0, &serde_json::json!(300)).is_err());
    assert!(c.parse_json(0, &serde_json::json!(null)).is_err());
    assert_eq!(
        c.parse_json(1, &serde_json::json!(2)),
        Ok(Value::Float(2.0))
    );
    assert!(c.parse_json(2, &serde_json::json!("boat")).is_err());
    assert!(c.parse_json(2, &serde_json::json!(true)).is_err());
}
