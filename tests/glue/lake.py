"""The test lake for the Glue suite: files written locally with pyarrow (the reference copy that
DuckDB reads), uploaded to moto's S3, and registered through moto's Glue API."""

import csv
import datetime as dt
import decimal
import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BUCKET = "lakegate-test"
REGIONS = ["eu", "us", "apac"]
YEARS = [2023, 2024]
DAYS = [dt.date(2024, 1, d) for d in range(1, 5)]

EVENT_COLUMNS = [
    ("id", "bigint", None),
    ("amount", "decimal(10,2)", "Amount in EUR"),
    ("ts", "timestamp", None),
    ("tags", "array<string>", None),
    ("attrs", "struct<os:string,version:int>", None),
    ("props", "map<string,int>", None),
    ("note", "string", "Free text from the client"),
]
EVENT_KEYS = [("region", "string"), ("year", "int"), ("day", "date")]

EVENT_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("amount", pa.decimal128(10, 2)),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("tags", pa.list_(pa.string())),
        ("attrs", pa.struct([("os", pa.string()), ("version", pa.int32())])),
        ("props", pa.map_(pa.string(), pa.int32())),
        ("note", pa.string()),
    ]
)


def columns(spec):
    return [
        {"Name": n, "Type": t, **({"Comment": c} if c else {})} for n, t, c in spec
    ]


def event_rows(seed, day):
    """Five deterministic rows for one partition."""
    rows = []
    for i in range(5):
        n = seed * 10 + i
        rows.append(
            {
                "id": n,
                "amount": decimal.Decimal(n * 37 % 10000) / 100,
                "ts": dt.datetime(day.year, day.month, day.day, i, 30, tzinfo=dt.timezone.utc),
                "tags": [f"t{n % 3}", f"t{n % 5}"],
                "attrs": {"os": ["ios", "android"][n % 2], "version": n % 7},
                "props": [("clicks", n % 11)],
                "note": f"note {n}",
            }
        )
    return rows


class Lake:
    """Writes files under `local` and mirrors them to S3; registers tables in Glue."""

    def __init__(self, local: Path, s3, glue):
        self.local, self.s3, self.glue = local, s3, glue
        self.event_partitions = []  # (region, year, day, arrow table)

    def put(self, key: str, data: bytes):
        path = self.local / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    def parquet(self, key: str, table: pa.Table):
        sink = io.BytesIO()
        pq.write_table(table, sink)
        self.put(key, sink.getvalue())

    def build(self):
        self.s3.create_bucket(Bucket=BUCKET)
        self.glue.create_database(DatabaseInput={"Name": "shop", "Description": "Test shop"})
        self.events()
        self.events_projected()
        self.returns_csv()
        self.clicks_json()
        self.customers_delta()
        self.broken_tables()

    def table(self, name, cols, location, keys=(), params=None, sd_extra=None, **extra):
        table_input = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params or {},
            "PartitionKeys": [{"Name": k, "Type": t} for k, t in keys],
            "StorageDescriptor": {
                "Columns": columns(cols),
                "Location": location,
                **(sd_extra or {}),
            },
            **extra,
        }
        self.glue.create_table(DatabaseName="shop", TableInput=table_input)

    def event_location(self, region, year, day):
        # apac's partitions live outside the table's prefix, and not in Hive layout.
        if region == "apac":
            return f"s3://{BUCKET}/archive/apac-events/{year}/{day}/"
        return f"s3://{BUCKET}/shop/events/region={region}/year={year}/day={day}/"

    def events(self):
        self.table(
            "events",
            EVENT_COLUMNS,
            f"s3://{BUCKET}/shop/events/",
            keys=EVENT_KEYS,
            params={"classification": "parquet"},
            Description="Client events, partitioned by region, year and day",
        )
        seed = 0
        for region in REGIONS:
            for year in YEARS:
                for day in DAYS:
                    seed += 1
                    self.add_event_partition(region, year, day, seed)

    def add_event_partition(self, region, year, day, seed):
        table = pa.Table.from_pylist(event_rows(seed, day), schema=EVENT_SCHEMA)
        location = self.event_location(region, year, day)
        key = location.removeprefix(f"s3://{BUCKET}/") + "part-0.parquet"
        self.parquet(key, table)
        # A Spark marker file that a scan must skip.
        self.put(location.removeprefix(f"s3://{BUCKET}/") + "_SUCCESS", b"")
        self.glue.batch_create_partition(
            DatabaseName="shop",
            TableName="events",
            PartitionInputList=[
                {
                    "Values": [region, str(year), day.isoformat()],
                    "StorageDescriptor": {"Location": location},
                }
            ],
        )
        self.event_partitions.append((region, year, day, table))

    def events_projected(self):
        """The eu and us events again, with partitions from Athena partition projection; in
        `events_injected` the region comes from the query."""
        self.projected_table("events_projected", {"type": "enum", "values": "eu,us"})
        self.projected_table("events_injected", {"type": "injected"})

    def projected_table(self, name, region):
        template = f"s3://{BUCKET}/shop/events/region=${{region}}/year=${{year}}/day=${{day}}/"
        self.table(
            name,
            EVENT_COLUMNS,
            f"s3://{BUCKET}/shop/events/",
            keys=EVENT_KEYS,
            params={
                "classification": "parquet",
                "projection.enabled": "true",
                **{f"projection.region.{k}": v for k, v in region.items()},
                "projection.year.type": "integer",
                "projection.year.range": "2023,2024",
                "projection.day.type": "date",
                "projection.day.format": "yyyy-MM-dd",
                "projection.day.range": "2024-01-01,2024-01-04",
                "storage.location.template": template,
            },
        )

    RETURNS = [
        ["order_id", "reason", "amount"],
        ["o1", "too small", "10.50"],
        ["o2", 'broken | "bad"', "3.00"],
        ["o3", "late", "120.00"],
    ]

    def returns_csv(self):
        text = io.StringIO()
        csv.writer(text, delimiter="|", quotechar='"', lineterminator="\n").writerows(self.RETURNS)
        self.put("raw/returns/returns.csv", text.getvalue().encode())
        self.table(
            "returns",
            [("order_id", "string", None), ("reason", "string", None), ("amount", "string", None)],
            f"s3://{BUCKET}/raw/returns/",
            params={"classification": "csv", "skip.header.line.count": "1"},
            sd_extra={
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                    "Parameters": {"separatorChar": "|", "quoteChar": '"'},
                }
            },
        )

    CLICKS = [{"user": "ann", "n": 3}, {"user": "bob", "n": 5}, {"user": "cy", "n": 8}]

    def clicks_json(self):
        body = "".join(json.dumps(r) + "\n" for r in self.CLICKS).encode()
        self.put("landing/clicks/2024/clicks-1.json", body)
        self.table(
            "clicks",
            [("user", "string", None), ("n", "int", None)],
            f"s3://{BUCKET}/landing/clicks/2024/",
            sd_extra={
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
            },
        )

    CUSTOMERS = {
        "DE": [(1, "Anna", decimal.Decimal("10.00")), (2, "Bernd", decimal.Decimal("20.50"))],
        "FR": [(3, "Chloé", decimal.Decimal("7.25"))],
    }

    def customers_delta(self):
        """A Delta table written by hand: one commit with a protocol, metadata and two adds."""
        prefix = "curated/customers"
        schema = pa.schema(
            [("id", pa.int64()), ("name", pa.string()), ("balance", pa.decimal128(10, 2))]
        )
        actions = [
            {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
            {"metaData": delta_metadata()},
        ]
        for country, rows in self.CUSTOMERS.items():
            table = pa.Table.from_pylist(
                [dict(zip(["id", "name", "balance"], r)) for r in rows], schema=schema
            )
            path = f"country={country}/part-0.parquet"
            sink = io.BytesIO()
            pq.write_table(table, sink)
            data = sink.getvalue()
            self.put(f"{prefix}/{path}", data)
            actions.append(
                {
                    "add": {
                        "path": path,
                        "partitionValues": {"country": country},
                        "size": len(data),
                        "modificationTime": 1700000000000,
                        "dataChange": True,
                    }
                }
            )
        log = "".join(json.dumps(a) + "\n" for a in actions).encode()
        self.put(f"{prefix}/_delta_log/00000000000000000000.json", log)
        self.table(
            "customers",
            [("id", "bigint", None), ("name", "string", None), ("balance", "decimal(10,2)", None),
             ("country", "string", None)],
            f"s3://{BUCKET}/{prefix}/",
            params={"table_type": "DELTA", "spark.sql.sources.provider": "delta"},
        )

    def broken_tables(self):
        self.table(
            "broken",
            [("id", "bigint", None), ("payload", "uniontype<int,string>", None)],
            f"s3://{BUCKET}/broken/",
            params={"classification": "parquet"},
        )
        self.table(
            "ghost",
            [("id", "bigint", None)],
            f"s3://{BUCKET}/nowhere/ghost/",
            params={"table_type": "DELTA"},
        )


def delta_metadata():
    fields = [
        {"name": "id", "type": "long", "nullable": True, "metadata": {}},
        {"name": "name", "type": "string", "nullable": True, "metadata": {}},
        {"name": "balance", "type": "decimal(10,2)", "nullable": True, "metadata": {}},
        {"name": "country", "type": "string", "nullable": True, "metadata": {}},
    ]
    return {
        "id": "6b0d7a1c-0000-4000-8000-000000000001",
        "format": {"provider": "parquet", "options": {}},
        "schemaString": json.dumps({"type": "struct", "fields": fields}),
        "partitionColumns": ["country"],
        "configuration": {},
        "createdTime": 1700000000000,
    }


def env_for(endpoint: str) -> dict:
    """AWS settings that point every client (boto3 and lakegate) at moto."""
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
