use super::*;
use crate::contract::Contract;

const COLUMNS: &str = "[[columns]]\nname='age'\ntype='integer'\n[[columns]]\nname='credit_amount'\ntype='float'\n[[columns]]\nname='co_age'\ntype='integer'\nnullable=true\n";

fn contract(rules: &str, tables: &str) -> crate::Result<Contract> {
    Contract::from_toml(
        &format!("name='t'\nversion=1\n{rules}\n{tables}\n{COLUMNS}"),
        "t.toml",
    )
}

fn header(names: &str) -> Vec<String> {
    names.split(',').map(str::to_string).collect()
}

fn refusal(c: crate::Result<Contract>) -> String {
    c.expect_err("refused").to_string()
}

#[test]
fn ignored_and_renamed_columns_parse_and_round_trip() {
    let c = contract(
            "ignore = ['id', 'notes']",
            "[[rename]]\nfrom='amount'\nto='credit_amount'\n[[rename]]\nfrom='age'\noccurrence=2\nto='co_age'\n",
        )
        .expect("contract");
    assert_eq!(c.ignore, ["id", "notes"]);
    assert_eq!(c.rename.len(), 2);
    assert_eq!(c.rename[1].occurrence, Some(2));
    let again = Contract::from_toml(&c.to_toml(), "shown").expect("round trip");
    assert_eq!(again, c);
    let dialect = contract(
        "ignore = ['id']",
        "[csv]\ndelimiter=';'\n[[rename]]\nfrom='amount'\nto='credit_amount'\n",
    )
    .expect("contract");
    let shown = dialect.to_toml();
    assert_eq!(
        Contract::from_toml(&shown, "shown").expect("round trip"),
        dialect,
        "{shown}"
    );
    let all = contract("ignore_unlisted = true", "").expect("contract");
    assert!(all.ignore_unlisted);
    assert_eq!(
        Contract::from_toml(&all.to_toml(), "shown").expect("round trip"),
        all
    );
}

#[test]
fn a_contract_without_header_rules_keeps_its_digest() {
    let c = contract("", "").expect("contract");
    let json = String::from_utf8(c.to_canonical()).expect("utf8");
    assert!(
        !json.contains("ignore") && !json.contains("rename"),
        "{json}"
    );
}

#[test]
fn a_column_both_listed_and_ignored_is_refused() {
    let e = refusal(contract("ignore = ['age']", ""));
    assert!(
        e.contains("column \"age\" is both listed and ignored"),
        "{e}"
    );
    // Allowed once a rename says which copy of "age" is the column.
    contract(
        "ignore = ['age']",
        "[[rename]]\nfrom='age'\noccurrence=1\nto='age'\n",
    )
    .expect("the other copies are ignored");
}

#[test]
fn conflicting_header_rules_are_refused() {
    let cases = [
        (
            "ignore = ['x']\nignore_unlisted = true",
            "",
            "already ignores",
        ),
        ("ignore = ['x', 'x']", "", "empty or repeated"),
        (
            "ignore = ['amount']",
            "[[rename]]\nfrom='amount'\nto='credit_amount'\n",
            "both ignored and renamed",
        ),
        (
            "",
            "[[rename]]\nfrom='a'\nto='nope'\n",
            "is not one of its columns",
        ),
        (
            "",
            "[[rename]]\nfrom='a'\nto='age'\n[[rename]]\nfrom='b'\nto='age'\n",
            "`to` of two renames",
        ),
        (
            "",
            "[[rename]]\nfrom='a'\noccurrence=1\nposition=3\nto='age'\n",
            "not both",
        ),
        (
            "",
            "[[rename]]\nfrom='a'\noccurrence=0\nto='age'\n",
            "count from 1",
        ),
        (
            "",
            "[[rename]]\nfrom='a'\noccurrence=2\nto='age'\n[[rename]]\nfrom='a'\noccurrence=2\nto='co_age'\n",
            "the rename of copy 2 of \"a\" is given twice",
        ),
        (
            "",
            "[[rename]]\nfrom='a'\nto='age'\n[[rename]]\nfrom='a'\nto='co_age'\n",
            "the rename of \"a\" is given twice",
        ),
        ("", "[[rename]]\nfrom=''\nto='age'\n", "empty `from`"),
        (
            "",
            "[[rename]]\nfrom='a'\nto='age'\nextra=1\n",
            "unknown field",
        ),
    ];
    for (rules, tables, want) in cases {
        let e = refusal(contract(rules, tables));
        assert!(e.contains(want), "{rules} {tables}: {e}");
    }
    let headerless = Contract::from_toml(
        &format!("name='t'\nversion=1\nignore_unlisted=true\n[csv]\nheader=false\n{COLUMNS}"),
        "t",
    );
    assert!(refusal(headerless).contains("have no header"));
}

#[test]
fn extra_columns_are_ignored_by_name_or_all() {
    let c = contract("ignore = ['id', 'notes']", "").expect("contract");
    let (map, ok) = c.map_header(&header("id,age,credit_amount,notes,co_age"), &[]);
    ok.expect("fits");
    assert_eq!(map.source, [Some(1), Some(2), Some(4)]);
    assert_eq!(map.width, 5);
    assert_eq!(
        map.ignored,
        [
            HeaderColumn {
                position: 1,
                name: "id".into()
            },
            HeaderColumn {
                position: 4,
                name: "notes".into()
            }
        ]
    );
    // A column neither listed nor ignored is still refused.
    let (_, bad) = c.map_header(&header("id,age,credit_amount,branch,co_age"), &[]);
    let bad = bad.expect_err("extra");
    assert_eq!(bad.problems, ["extra columns: branch"]);
    let all = contract("ignore_unlisted = true", "").expect("contract");
    let (map, ok) = all.map_header(&header("x,age,y,credit_amount,co_age,x"), &[]);
    ok.expect("fits");
    assert_eq!(map.ignored.len(), 3);
    // Without any ignore rule, the refusal says how to ignore.
    let plain = contract("", "").expect("contract");
    let (_, bad) = plain.map_header(&header("age,credit_amount,co_age,x"), &[]);
    assert!(
        bad.expect_err("extra").problems[0].contains("`ignore_unlisted = true`"),
        "hint"
    );
}

#[test]
fn renames_by_name_occurrence_and_position() {
    let c = contract(
            "",
            "[[rename]]\nfrom='amount'\nto='credit_amount'\n[[rename]]\nfrom='age'\noccurrence=2\nto='co_age'\n",
        )
        .expect("contract");
    let (map, ok) = c.map_header(&header("age,amount,age"), &[]);
    ok.expect("fits");
    assert_eq!(map.source, [Some(0), Some(1), Some(2)]);
    assert_eq!(
        map.renamed,
        [
            Renamed {
                position: 2,
                from: "amount".into(),
                to: "credit_amount".into()
            },
            Renamed {
                position: 3,
                from: "age".into(),
                to: "co_age".into()
            }
        ]
    );
    let by_pos =
        contract("", "[[rename]]\nfrom='age'\nposition=3\nto='co_age'\n").expect("contract");
    let (map, ok) = by_pos.map_header(&header("age,credit_amount,age"), &[]);
    ok.expect("fits");
    assert_eq!(map.source, [Some(0), Some(1), Some(2)]);
    // A position that holds another name is refused, naming what it found.
    let (_, bad) = by_pos.map_header(&header("age,credit_amount,ages"), &[]);
    let bad = bad.expect_err("wrong name");
    assert!(
        bad.problems[0].contains("the rename at position 3 (\"age\") finds \"ages\" there"),
        "{bad:?}"
    );
    // A copy the file does not have.
    let (_, bad) = c.map_header(&header("age,amount,co_age"), &[]);
    assert!(
        bad.expect_err("one copy").problems[0]
            .contains("the rename of copy 2 of \"age\": the header has 1 column of that name")
    );
}

#[test]
fn a_repeated_header_name_without_a_rename_is_refused_with_the_toml_to_add() {
    let c = contract("", "").expect("contract");
    let (_, bad) = c.map_header(&header("age,credit_amount,co_age,age"), &[]);
    let bad = bad.expect_err("repeated");
    assert_eq!(
        bad.problems,
        [
            "header name \"age\" appears 2 times (positions 1, 4) and contract column \"age\" is read from one of them only"
        ]
    );
    let help = bad.help.join("\n");
    assert!(
        help.contains("  [[rename]]\n  from = \"age\"\n  occurrence = 1\n  to = \"age\"\n"),
        "{help}"
    );
    assert!(
        help.contains("  [[rename]]\n  from = \"age\"\n  occurrence = 2\n  to = \"age_2\"\n"),
        "{help}"
    );
    assert!(help.contains("`ignore = [\"age\"]`"), "{help}");
    // The TOML it shows works: with it (and the spare column ignored), the file fits.
    let fixed = contract(
        "ignore = ['age']",
        "[[rename]]\nfrom = \"age\"\noccurrence = 1\nto = \"age\"\n",
    )
    .expect("contract");
    let (map, ok) = fixed.map_header(&header("age,credit_amount,co_age,age"), &[]);
    ok.expect("fits");
    assert_eq!(map.source, [Some(0), Some(1), Some(2)]);
    assert_eq!(map.ignored[0].position, 4);
}

#[test]
fn missing_optional_and_out_of_order_columns() {
    let c = contract("", "").expect("contract");
    let (map, ok) = c.map_header(&header("age,credit_amount"), &[2]);
    ok.expect("optional");
    assert_eq!(map.source, [Some(0), Some(1), None]);
    let (_, bad) = c.map_header(&header("age,credit_amount"), &[]);
    assert_eq!(
        bad.expect_err("missing").problems,
        ["missing columns: co_age"]
    );
    let (_, bad) = c.map_header(&header("credit_amount,age,co_age"), &[]);
    assert_eq!(
        bad.expect_err("order").problems,
        ["columns out of order: expected age,credit_amount,co_age, found credit_amount,age,co_age"]
    );
    let renamed =
        contract("", "[[rename]]\nfrom='amount'\nto='credit_amount'\n").expect("contract");
    let (_, bad) = renamed.map_header(&header("age,co_age"), &[]);
    assert_eq!(
        bad.expect_err("missing").problems,
        ["missing columns: credit_amount (read from \"amount\", which the header lacks)"]
    );
}

#[test]
fn header_names_from_the_file_are_escaped() {
    let c = contract("ignore_unlisted = true", "").expect("contract");
    let (map, ok) = c.map_header(&header("age,credit_amount,co_age,\u{1b}[2Jx"), &[]);
    ok.expect("fits");
    assert_eq!(map.ignored[0].name, "\\u{1b}[2Jx");
    let plain = contract("", "").expect("contract");
    let (_, bad) = plain.map_header(&header("age,credit_amount,co_age,a\nb"), &[]);
    let bad = bad.expect_err("extra");
    assert!(bad.problems[0].contains("a\\nb"), "{bad:?}");
}
