//! Metrics against hand-computed values.

use super::*;

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

fn binary_out(p: &[f32]) -> Outputs {
    Outputs::check(Task::Binary, 1, p.to_vec()).unwrap()
}

#[test]
fn hand_computed_binary_metrics_with_tied_scores() {
    // Positives score 0.5 and 0.9, negatives 0.2 and 0.5. Of the 4 (pos, neg) pairs,
    // 0.5>0.2, 0.9>0.2, 0.9>0.5 win and 0.5=0.5 ties: AUC = 3.5 / 4.
    let m = evaluate(&binary_out(&[0.2, 0.5, 0.5, 0.9]), &[0.0, 1.0, 0.0, 1.0]).unwrap();
    assert_eq!(m.rows, 4);
    assert!(close(m.roc_auc, 0.875), "{m:?}");
    // Predictions 0,1,1,1 (0.5 counts positive): 3 of 4 right, 3 of 4 positive.
    assert!(close(m.accuracy, 0.75));
    assert!(close(m.positive_rate, 0.75));
    // TP 2, FP 1, FN 0: precision 2/3, recall 1, F1 0.8.
    assert!(close(m.precision, 2.0 / 3.0));
    assert!(close(m.recall, 1.0));
    assert!(close(m.f1, 0.8));
    // Thresholds 0.9 (1 pos of 1 seen), 0.5 (2 of 3 seen): AP = 0.5 * 1 + 0.5 * 2/3.
    assert!(close(m.pr_auc, 0.5 + 1.0 / 3.0), "{m:?}");
    // -(ln 0.8 + ln 0.5 + ln 0.5 + ln 0.9) / 4
    assert!(close(m.log_loss, 0.428_699_6), "{m:?}");
    // (0.04 + 0.25 + 0.25 + 0.01) / 4
    assert!(close(m.brier, 0.1375));
    // Bins [0.2,0.3): 1 row, 0 positive; [0.5,0.6): 2 rows, 1 positive; [0.9,1]: 1 row, 1.
    let bins: Vec<(f64, usize, f64, f64)> = m
        .calibration
        .iter()
        .map(|b| (b.lower, b.rows, b.mean_predicted, b.observed_rate))
        .collect();
    assert_eq!(bins.len(), 3, "{bins:?}");
    assert_eq!((bins[0].1, bins[1].1, bins[2].1), (1, 2, 1));
    assert!((bins[1].0 - 0.5).abs() < 1e-12 && (bins[1].3 - 0.5).abs() < 1e-12);
    assert!((bins[2].2 - 0.9).abs() < 1e-6 && (bins[2].3 - 1.0).abs() < 1e-12);
    assert_eq!(m.rmse, None);
    assert_eq!(m.get("f1"), m.f1);
    assert_eq!(m.get("no_such_metric"), None);
}

#[test]
fn auc_without_ties_and_degenerate_cases() {
    // Pairs: 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes: 3 / 4.
    let m = evaluate(&binary_out(&[0.1, 0.4, 0.35, 0.8]), &[0.0, 0.0, 1.0, 1.0]).unwrap();
    assert!(close(m.roc_auc, 0.75));
    let m = evaluate(&binary_out(&[0.3; 4]), &[0.0, 1.0, 1.0, 0.0]).unwrap();
    assert!(close(m.roc_auc, 0.5));
    assert!(close(m.pr_auc, 0.5), "all tied: one step at precision 1/2");
    let m = evaluate(&binary_out(&[0.9, 0.8]), &[1.0, 1.0]).unwrap();
    assert!(close(m.roc_auc, 0.5));
    assert!(close(m.accuracy, 1.0));
    // Nothing predicted positive: precision is 0, not NaN.
    let m = evaluate(&binary_out(&[0.1, 0.2]), &[1.0, 0.0]).unwrap();
    assert!(close(m.precision, 0.0) && close(m.f1, 0.0));
}

#[test]
fn log_loss_clamps_certain_mistakes() {
    // p = 0 for a positive: clamped to 1e-7, loss = -ln(1e-7) = 16.118096.
    let m = evaluate(&binary_out(&[0.0]), &[1.0]).unwrap();
    assert!(close(m.log_loss, 16.118_095_65), "{m:?}");
    assert!(close(m.brier, 1.0));
}

#[test]
fn hand_computed_multiclass_metrics() {
    let out = Outputs::check(
        Task::Multiclass { classes: 3 },
        3,
        vec![
            0.7, 0.2, 0.1, // predicts 0, label 0
            0.1, 0.6, 0.3, // predicts 1, label 2
            0.2, 0.2, 0.6, // predicts 2, label 2
            0.5, 0.4, 0.1, // predicts 0, label 1
        ],
    )
    .unwrap();
    let m = evaluate(&out, &[0.0, 2.0, 2.0, 1.0]).unwrap();
    assert!(close(m.accuracy, 0.5));
    // class 0: predicted 2, right 1, support 1 -> P 0.5 R 1 F1 2/3
    // class 1: predicted 1, right 0, support 1 -> 0 0 0
    // class 2: predicted 1, right 1, support 2 -> P 1 R 0.5 F1 2/3
    assert_eq!(m.per_class[2].support, 2);
    assert!(close(m.precision, 0.5));
    assert!(close(m.recall, 0.5));
    assert!(close(m.f1, 4.0 / 9.0));
    // -(ln .7 + ln .3 + ln .6 + ln .4) / 4
    let want = -(0.7f64.ln() + 0.3f64.ln() + 0.6f64.ln() + 0.4f64.ln()) / 4.0;
    assert!((m.log_loss.unwrap() - want).abs() < 1e-6);
    // Brier rows: .09+.04+.01, .01+.36+.49, .04+.04+.16, .25+.36+.01
    assert!(close(m.brier, (0.14 + 0.86 + 0.24 + 0.62) / 4.0));
    // One-vs-rest: class 0 scores [.7,.1,.2,.5] pos {0}: 3/3 = 1; class 1 [.2,.6,.2,.4] pos {3}:
    // beats .2,.2, loses .6 -> 2/3; class 2 [.1,.3,.6,.1] pos {1,2}: .3>.1,.1 ; .6>.1,.1 -> 1.
    assert!(close(m.roc_auc, (1.0 + 2.0 / 3.0 + 1.0) / 3.0), "{m:?}");
}

#[test]
fn hand_computed_regression_metrics() {
    let out = Outputs::check(Task::Regression, 1, vec![1.0, 2.0, 4.0]).unwrap();
    let m = evaluate(&out, &[1.0, 3.0, 2.0]).unwrap();
    // errors 0, -1, 2: MSE 5/3, MAE 1; mean y 2, SS_tot 2, R2 = 1 - 5/2.
    assert!(close(m.rmse, (5.0f64 / 3.0).sqrt()));
    assert!(close(m.mae, 1.0));
    assert!(close(m.r2, -1.5));
    let flat = evaluate(&out, &[2.0, 2.0, 2.0]).unwrap();
    assert_eq!(flat.r2, None, "R2 is undefined for constant labels");
    assert_eq!(m.accuracy, None);
}

#[test]
fn slices_group_rows_by_key() {
    let out = binary_out(&[0.9, 0.1, 0.8, 0.3]);
    let y = [1.0, 0.0, 0.0, 0.0];
    let keys: Vec<String> = ["a", "a", "b", "b"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let s = evaluate_slices(&out, &y, &keys).unwrap();
    assert_eq!(s.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(close(s["a"].accuracy, 1.0));
    assert!(close(s["b"].accuracy, 0.5));
    assert_eq!(s["b"].rows, 2);
    assert!(evaluate_slices(&out, &y, &keys[..3]).is_err());
    let many: Vec<String> = (0..=MAX_SLICES).map(|i| i.to_string()).collect();
    let wide = binary_out(&vec![0.5; MAX_SLICES + 1]);
    let err = evaluate_slices(&wide, &vec![0.0; MAX_SLICES + 1], &many).unwrap_err();
    assert!(err.to_string().contains("distinct values"), "{err}");
}

#[test]
fn coded_slices_give_the_figures_of_named_ones() {
    let out = binary_out(&[0.9, 0.1, 0.8, 0.3, 0.6, 0.4]);
    let y = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
    let names = ["b", "a", "never"].map(String::from);
    let codes = [1u32, 1, 0, 0, 1, 0];
    let keys: Vec<String> = codes.iter().map(|&c| names[c as usize].clone()).collect();
    let coded = evaluate_slices_coded(&out, &y, &codes, &names).unwrap();
    assert_eq!(coded, evaluate_slices(&out, &y, &keys).unwrap());
    assert_eq!(coded.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(evaluate_slices_coded(&out, &y, &codes[..5], &names).is_err());
    assert!(evaluate_slices_coded(&out, &y, &[0, 0, 0, 0, 0, 3], &names).is_err());
}

#[test]
fn evaluate_refuses_bad_inputs() {
    assert!(matches!(
        evaluate(&binary_out(&[0.5]), &[2.0]),
        Err(Error::InvalidLabel { row: 0, .. })
    ));
    let three = Outputs::check(Task::Multiclass { classes: 3 }, 3, vec![0.2, 0.3, 0.5]).unwrap();
    let err = evaluate(&three, &[3.0]).unwrap_err();
    assert!(err.to_string().contains("whole numbers 0 to 2"), "{err}");
    assert!(evaluate(&three, &[1.5]).is_err());
    assert!(matches!(
        evaluate(&binary_out(&[0.5]), &[1.0, 0.0]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        evaluate(&binary_out(&[]), &[]),
        Err(Error::TooFewRows { .. })
    ));
}
