#!/usr/bin/env python3
"""Writes the demo lake's catalog in the JSON shapes of the AWS Glue API.

databases.json          = GetDatabases output
tables/<db>.json        = GetTables output for one database
partitions/<db>/<t>.json = GetPartitions output for one table

Locations are relative to the lake root (lakegate resolves them); a real Glue catalog holds
s3:// URLs instead. The demo data generator writes its files where these partitions point, so
this catalog is the single source of truth for the demo lake's layout. Run from this directory.
"""
import datetime
import json
import os

FIRST_DAY = datetime.date(2024, 1, 1)
DAYS = 731  # 2024-01-01 .. 2025-12-31
REGIONS = ["AMER", "EMEA", "APAC", "LATAM"]

PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
CSV = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
        "Parameters": {"field.delim": ",", "skip.header.line.count": "1"},
    },
}
JSON = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
}
DELTA_PARAMS = {"table_type": "DELTA", "spark.sql.sources.provider": "delta", "classification": "delta"}


# Tags for tag-based grants (policies/policy.csv) are catalog parameters named lf_tag.KEY.
PII = {"lf_tag.sensitivity": "pii"}


def col(name, type_, comment=None, params=None):
    c = {"Name": name, "Type": type_}
    if comment:
        c["Comment"] = comment
    if params:
        c["Parameters"] = params
    return c


ORDER_COLUMNS = [
    col("order_id", "bigint", "Order identifier, unique"),
    col("customer_id", "bigint", "References sales.customers"),
    col("order_ts", "timestamp", "When the order was placed (UTC)"),
    col("amount", "decimal(12,2)", "Order total in the order currency"),
    col("currency", "string", "ISO 4217 code"),
    col("status", "string", "placed, shipped, delivered, returned or cancelled"),
    col("card_number", "string", "Payment card number (sensitive)", PII),
]


def table(db, name, description, location, columns, fmt=None, params=None, partition_keys=()):
    sd = {"Columns": columns, "Location": location}
    sd.update(fmt or {})
    return {
        "Name": name,
        "DatabaseName": db,
        "Description": description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params or {},
        "StorageDescriptor": sd,
        "PartitionKeys": list(partition_keys),
    }


def days():
    return [FIRST_DAY + datetime.timedelta(days=i) for i in range(DAYS)]


def tables():
    return {
        "sales": [
            table("sales", "orders", "Customer orders (curated zone)", "curated/sales/orders/",
                  ORDER_COLUMNS, PARQUET, {"classification": "parquet"},
                  [col("region", "string", "Sales region"), col("order_date", "date", "Day the order was placed (UTC)")]),
            table("sales", "customers", "Customer master data (curated zone, Delta)", "curated/sales/customers/",
                  [col("customer_id", "bigint", "Customer identifier"), col("name", "string"),
                   col("email", "string", "Contact e-mail (sensitive)", PII),
                   col("phone", "string", "Contact phone (sensitive)", PII),
                   col("country", "string", "ISO 3166 country code"), col("segment", "string"),
                   col("signup_date", "date")],
                  None, DELTA_PARAMS),
        ],
        "web": [
            table("web", "events", "Website events (curated zone, Delta, partitioned by event_date)", "curated/web/events/",
                  [col("event_id", "bigint"), col("user_id", "bigint", "References sales.customers"),
                   col("event_type", "string"), col("url", "string"), col("ts", "timestamp"),
                   col("properties", "string", "Event properties as JSON text"), col("event_date", "date")],
                  None, DELTA_PARAMS),
        ],
        "raw": [
            table("raw", "orders_csv", "Landing copy of orders as delivered (raw zone, CSV)", "raw/sales/orders_csv/",
                  [col(c["Name"], "string", c.get("Comment")) for c in ORDER_COLUMNS]
                  + [col("region", "string"), col("order_date", "string")],
                  CSV, {"classification": "csv", "skip.header.line.count": "1"},
                  [col("ingest_date", "date", "Day the file landed")]),
            table("raw", "clicks_json", "Semi-structured click events (raw zone, JSON lines)", "raw/web/clicks_json/",
                  [col("click_id", "bigint"), col("user_id", "bigint"), col("ts", "timestamp"), col("url", "string"),
                   col("referrer", "string", "Absent for direct visits"), col("device", "struct<type:string,os:string>")],
                  JSON, {"classification": "json"}),
        ],
    }


def partition(db, name, values, location):
    return {"Values": values, "DatabaseName": db, "TableName": name, "StorageDescriptor": {"Location": location}}


def partitions():
    orders = [partition("sales", "orders", [r, d.isoformat()],
                        f"curated/sales/orders/region={r}/order_date={d.isoformat()}/")
              for d in days() for r in REGIONS]
    ingest = [d + datetime.timedelta(days=1) for d in days()]
    orders_csv = [partition("raw", "orders_csv", [d.isoformat()], f"raw/sales/orders_csv/ingest_date={d.isoformat()}/")
                  for d in ingest]
    return {("sales", "orders"): orders, ("raw", "orders_csv"): orders_csv}


def write(path, value):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


def main():
    descriptions = {"sales": "Sales: orders and customers", "web": "Web analytics", "raw": "Raw zone: data as it landed"}
    tags = {"web": {"lf_tag.domain": "web"}, "sales": {"lf_tag.domain": "sales"}}
    write("databases.json", {"DatabaseList": [
        {"Name": db, "Description": text, "Parameters": tags.get(db, {})} for db, text in descriptions.items()]})
    for db, tabs in tables().items():
        write(f"tables/{db}.json", {"TableList": tabs})
    for (db, name), parts in partitions().items():
        write(f"partitions/{db}/{name}.json", {"Partitions": parts})


if __name__ == "__main__":
    main()
