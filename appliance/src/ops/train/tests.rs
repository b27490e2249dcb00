//! Tests of the training operation.

use super::*;
use crate::contract::{Contract, Value};

fn label(column: &str) -> crate::contract::Column {
    let c = Contract::from_toml(
        &format!("name='t'\nversion=1\n[[columns]]\nname='y'\n{column}\n"),
        "t",
    )
    .expect("contract");
    c.columns[0].clone()
}

fn rows(values: &[Value]) -> Vec<Vec<Value>> {
    values.iter().map(|v| vec![v.clone()]).collect()
}

#[test]
fn the_negative_class_is_named_where_the_contract_or_the_data_knows_it() {
    let cats = label("type='category'\ncategories=['good', 'bad']");
    assert_eq!(
        negative_class(&cats, "bad", &[], 0).as_deref(),
        Some("good"),
        "the contract's other category"
    );
    let range = label("type='integer'\nmin=0\nmax=1");
    assert_eq!(
        negative_class(&range, "1", &[], 0).as_deref(),
        Some("0"),
        "the other integer of a range of two"
    );
    let open = label("type='integer'\nmin=0\nnullable=true");
    let seen = rows(&[Value::Int(2), Value::Null, Value::Int(1), Value::Int(2)]);
    assert_eq!(
        negative_class(&open, "2", &seen, 0).as_deref(),
        Some("1"),
        "the one other value of the training rows"
    );
}

#[test]
fn a_negative_class_of_several_values_is_not_named() {
    let three = label("type='category'\ncategories=['a', 'b', 'c']");
    assert_eq!(negative_class(&three, "a", &[], 0), None);
    let open = label("type='string'");
    let seen = rows(&[
        Value::Text("x".into()),
        Value::Text("y".into()),
        Value::Text("z".into()),
    ]);
    assert_eq!(negative_class(&open, "x", &seen, 0), None);
    let wide = label("type='integer'\nmin=0\nmax=5");
    let two = rows(&[Value::Int(0), Value::Int(1)]);
    assert_eq!(
        negative_class(&wide, "1", &two, 0),
        None,
        "the contract allows more negative values than the rows hold"
    );
    let cats = label("type='category'\ncategories=['good', 'bad']");
    assert_eq!(
        negative_class(&cats, "ugly", &[], 0),
        None,
        "a positive value that is not a category"
    );
}
