use std::collections::HashMap;

use super::*;
use crate::catalog::glue_model::Column;

fn table(location: &str, keys: &[&str], parameters: &[(&str, &str)]) -> Table {
    let mut params: HashMap<String, String> = parameters
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    params.insert("projection.enabled".into(), "true".into());
    Table {
        name: "t".into(),
        partition_keys: keys
            .iter()
            .map(|k| Column {
                name: k.to_string(),
                type_name: "string".into(),
                comment: None,
                ..Default::default()
            })
            .collect(),
        storage_descriptor: StorageDescriptor {
            location: Some(location.into()),
            ..Default::default()
        },
        parameters: params,
        ..Default::default()
    }
}

fn locations(partitions: &[Partition]) -> Vec<String> {
    partitions
        .iter()
        .map(|p| p.storage_descriptor.location.clone().unwrap())
        .collect()
}

#[test]
fn enum_and_date_keys_in_hive_layout() {
    let t = table(
        "curated/sales/orders/",
        &["region", "order_date"],
        &[
            ("projection.region.type", "enum"),
            ("projection.region.values", "EMEA,APAC"),
            ("projection.order_date.type", "date"),
            ("projection.order_date.format", "yyyy-MM-dd"),
            ("projection.order_date.range", "2024-02-28,2024-03-01"),
        ],
    );
    let partitions = projected_partitions(&t).unwrap().unwrap();
    assert_eq!(
        partitions.len(),
        2 * 3,
        "2024 is a leap year: 28, 29 Feb and 1 Mar"
    );
    assert_eq!(partitions[1].values, ["EMEA", "2024-02-29"]);
    assert_eq!(
        locations(&partitions)[5],
        "curated/sales/orders/region=APAC/order_date=2024-03-01/"
    );
}

#[test]
fn integer_keys_with_padding_and_a_location_template() {
    let t = table(
        "s3://bucket/logs/",
        &["hour"],
        &[
            ("projection.hour.type", "integer"),
            ("projection.hour.range", "0,23"),
            ("projection.hour.interval", "6"),
            ("projection.hour.digits", "2"),
            ("storage.location.template", "s3://bucket/logs/h${hour}/"),
        ],
    );
    let partitions = projected_partitions(&t).unwrap().unwrap();
    assert_eq!(
        locations(&partitions),
        [
            "s3://bucket/logs/h00/",
            "s3://bucket/logs/h06/",
            "s3://bucket/logs/h12/",
            "s3://bucket/logs/h18/"
        ]
    );
}

#[test]
fn hourly_dates_and_relative_ranges() {
    let hourly = table(
        "x/",
        &["dt"],
        &[
            ("projection.dt.type", "date"),
            ("projection.dt.format", "yyyy/MM/dd/HH"),
            ("projection.dt.range", "2024/01/01/22,2024/01/02/01"),
            ("projection.dt.interval.unit", "HOURS"),
        ],
    );
    let values: Vec<String> = projected_partitions(&hourly)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|p| p.values[0].clone())
        .collect();
    assert_eq!(
        values,
        [
            "2024/01/01/22",
            "2024/01/01/23",
            "2024/01/02/00",
            "2024/01/02/01"
        ]
    );
    let recent = table(
        "x/",
        &["dt"],
        &[
            ("projection.dt.type", "date"),
            ("projection.dt.format", "yyyy-MM-dd"),
            ("projection.dt.range", "NOW-2DAYS,NOW"),
        ],
    );
    assert_eq!(projected_partitions(&recent).unwrap().unwrap().len(), 3);
}

#[test]
fn disabled_injected_and_bad_properties() {
    let mut off = table("x/", &["a"], &[]);
    off.parameters
        .insert("projection.enabled".into(), "false".into());
    assert!(projected_partitions(&off).unwrap().is_none());
    let injected = table("x/", &["a"], &[("projection.a.type", "injected")]);
    assert!(projected_partitions(&injected)
        .unwrap_err()
        .contains("injected"));
    let missing = table("x/", &["a"], &[("projection.a.type", "integer")]);
    assert!(projected_partitions(&missing)
        .unwrap_err()
        .contains("projection.a.range"));
    let huge = table(
        "x/",
        &["a", "b"],
        &[
            ("projection.a.type", "integer"),
            ("projection.a.range", "1,100000"),
            ("projection.b.type", "integer"),
            ("projection.b.range", "1,100000"),
        ],
    );
    assert!(projected_partitions(&huge)
        .unwrap_err()
        .contains("more than"));
}

#[test]
fn injected_keys_take_their_values_from_the_query() {
    let t = table(
        "s3://b/t/",
        &["device", "day"],
        &[
            ("projection.device.type", "injected"),
            ("projection.day.type", "date"),
            ("projection.day.format", "yyyy-MM-dd"),
            ("projection.day.range", "2024-01-01,2024-01-02"),
        ],
    );
    assert_eq!(injected_keys(&t), ["device"]);
    let values =
        InjectedValues::from([("device".to_owned(), vec!["a".to_owned(), "b".to_owned()])]);
    let partitions = projected_partitions_with(&t, &values).unwrap().unwrap();
    assert_eq!(
        locations(&partitions),
        [
            "s3://b/t/device=a/day=2024-01-01/",
            "s3://b/t/device=a/day=2024-01-02/",
            "s3://b/t/device=b/day=2024-01-01/",
            "s3://b/t/device=b/day=2024-01-02/",
        ]
    );
}
