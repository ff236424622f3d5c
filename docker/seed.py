"""Seeds an S3- and Glue-compatible server with lakegate's demo lake, for docker/compose.yaml:
uploads the files `lakegate demo generate` wrote, and registers the catalog of
catalog-fixtures/ (databases, tables, partitions) through the Glue API with s3:// locations.

Usage: python3 seed.py LAKE_DIR FIXTURES_DIR   (AWS_ENDPOINT_URL and credentials from the
environment; the bucket is $LAKE_BUCKET, default lakegate-demo). Running it twice is harmless.
"""

import json
import os
import sys
from pathlib import Path

import boto3

BUCKET = os.environ.get("LAKE_BUCKET", "lakegate-demo")
TABLE_KEYS = ("Name", "Description", "TableType", "Parameters", "StorageDescriptor", "PartitionKeys")
SKIP = ("_catalog", "audit")


def s3_location(location):
    return location if "://" in location else f"s3://{BUCKET}/{location.lstrip('/')}"


def upload(s3, lake):
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)
    files = [p for p in sorted(lake.rglob("*"))
             if p.is_file() and p.relative_to(lake).parts[0] not in SKIP]
    for n, path in enumerate(files, 1):
        s3.upload_file(str(path), BUCKET, str(path.relative_to(lake)))
        if n % 500 == 0 or n == len(files):
            print(f"  uploaded {n}/{len(files)} files", flush=True)


def register(glue, fixtures):
    for database in json.loads((fixtures / "databases.json").read_text())["DatabaseList"]:
        try:
            glue.create_database(DatabaseInput=database)
        except glue.exceptions.AlreadyExistsException:
            pass
    for tables_file in sorted((fixtures / "tables").glob("*.json")):
        for table in json.loads(tables_file.read_text())["TableList"]:
            register_table(glue, fixtures, table)


def register_table(glue, fixtures, table):
    database = table["DatabaseName"]
    table_input = {k: v for k, v in table.items() if k in TABLE_KEYS}
    descriptor = table_input["StorageDescriptor"]
    descriptor["Location"] = s3_location(descriptor["Location"])
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    except glue.exceptions.AlreadyExistsException:
        return
    partitions_file = fixtures / "partitions" / database / f"{table['Name']}.json"
    if not partitions_file.exists():
        return
    partitions = json.loads(partitions_file.read_text())["Partitions"]
    inputs = [{"Values": p["Values"],
               "StorageDescriptor": {**descriptor, "Location": s3_location(p["StorageDescriptor"]["Location"])}}
              for p in partitions]
    for start in range(0, len(inputs), 100):  # BatchCreatePartition takes 100 at a time
        glue.batch_create_partition(DatabaseName=database, TableName=table["Name"],
                                    PartitionInputList=inputs[start:start + 100])
    print(f"  {database}.{table['Name']}: {len(inputs)} partitions", flush=True)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lake, fixtures = Path(sys.argv[1]), Path(sys.argv[2])
    if not (lake / "lakegate-demo.json").exists():
        sys.exit(f"{lake} holds no demo lake: run `lakegate demo generate --lake-root {lake}` first")
    print(f"seeding s3://{BUCKET} and the Glue catalog from {lake}", flush=True)
    upload(boto3.client("s3"), lake)
    register(boto3.client("glue"), fixtures)
    print("seeded", flush=True)


if __name__ == "__main__":
    main()
