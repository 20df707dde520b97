//! Properties of the de-identification building blocks: UID mapping is consistent and
//! collision-free; date shifting preserves every interval exactly.

use chrono::NaiveDate;
use corelab_dicom::deid::{DateShift, TrialSecret, UidMapper, is_valid_uid};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

fn uid_strategy() -> impl Strategy<Value = String> {
    // Components of digits without leading zeros, 2 to 12 of them, within 64 characters.
    prop::collection::vec(prop_oneof![Just("0".to_owned()), "[1-9][0-9]{0,8}"], 2..12)
        .prop_map(|parts| parts.join("."))
        .prop_filter("UIDs are at most 64 characters", |u| u.len() <= 64)
}

fn date_strategy() -> impl Strategy<Value = NaiveDate> {
    (0i64..73_000)
        .prop_map(|d| NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Days::new(d as u64))
}

fn parse(da: &str) -> NaiveDate {
    NaiveDate::parse_from_str(da, "%Y%m%d").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn uid_mapping_is_consistent_valid_and_collision_free(
        uids in prop::collection::hash_set(uid_strategy(), 1..2000),
        seed in any::<[u8; 32]>(),
    ) {
        let m = UidMapper::new(TrialSecret::from_bytes(seed));
        let mut seen: HashMap<String, String> = HashMap::new();
        for uid in &uids {
            let new = m.map(uid);
            prop_assert!(is_valid_uid(&new), "{new}");
            prop_assert_eq!(&new, &m.map(&format!("{uid}\0")));
            if let Some(other) = seen.insert(new.clone(), uid.clone()) {
                prop_assert!(false, "{} and {} both map to {}", other, uid, new);
            }
        }
        // A fresh mapper with the same secret (another site, another day) agrees.
        let again = UidMapper::new(TrialSecret::from_bytes(seed));
        for (new, uid) in &seen {
            prop_assert_eq!(new, &again.map(uid));
        }
    }

    #[test]
    fn date_shifting_preserves_every_interval_exactly(
        dates in prop::collection::vec(date_strategy(), 2..20),
        offset in -36_500i64..36_500,
    ) {
        let s = DateShift::days(offset);
        let texts: Vec<String> = dates.iter().map(|d| d.format("%Y%m%d").to_string()).collect();
        let shifted: Vec<NaiveDate> = texts.iter().map(|t| parse(&s.shift_da(t).unwrap())).collect();
        for i in 1..dates.len() {
            prop_assert_eq!(dates[i] - dates[0], shifted[i] - shifted[0]);
        }
        prop_assert_eq!((shifted[0] - dates[0]).num_days(), offset);
        // The multi-valued form shifts each value alike.
        let joined = s.shift_da(&texts.join("\\")).unwrap();
        let parts: Vec<NaiveDate> = joined.split('\\').map(parse).collect();
        prop_assert_eq!(parts, shifted);
    }

    #[test]
    fn datetime_shifting_moves_the_date_and_keeps_time_and_offset(
        date in date_strategy(),
        time in "([01][0-9]|2[0-3])([0-5][0-9]){2}(\\.[0-9]{1,6})?",
        zone in prop::option::of("[+-](0[0-9]|1[0-2])[0-5][0-9]"),
        offset in -3_650i64..3_650,
    ) {
        let zone = zone.unwrap_or_default();
        let value = format!("{}{time}{zone}", date.format("%Y%m%d"));
        let shifted = DateShift::days(offset).shift_dt(&value).unwrap();
        prop_assert_eq!(&shifted[8..], &value[8..]);
        prop_assert_eq!((parse(&shifted[..8]) - date).num_days(), offset);
    }
}

#[test]
fn subject_offsets_do_not_collide_into_one_value() {
    let secret = TrialSecret::from_bytes([3; 32]);
    let offsets: HashSet<i64> = (0..1000)
        .map(|i| {
            DateShift::for_subject(&secret, &format!("SUBJ-{i:04}"), -3650..=-365).offset_days()
        })
        .collect();
    // 1,000 subjects over 3,286 possible days: a uniform draw gives about 860 distinct offsets.
    assert!(offsets.len() > 800, "{}", offsets.len());
}
