"""A federated table in a Glue catalog (moto's server): the table names a Glue connection whose
JDBC URL is in the catalog and whose credentials are a secret given to lakegate in the
environment. A connection that keeps its password in the catalog is refused."""

import json
import os
import subprocess
import time

import boto3
import psycopg

import remote
from gateway import CUSTOMERS_LIVE, federated, free_port


def moto_env(endpoint):
    return {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_GLUE": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}


def wait_for_log(path, text, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if path.exists() and text in path.read_text():
            return
        if proc.poll() is not None:
            raise RuntimeError(path.read_text())
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} not in {path}")


def fill_catalog(endpoint):
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    glue.create_database(DatabaseInput={"Name": "ops"})
    url = f"jdbc:postgresql://127.0.0.1:5432/{remote.DB}"
    glue.create_connection(ConnectionInput={
        "Name": "ops_glue", "ConnectionType": "JDBC",
        "ConnectionProperties": {"JDBC_CONNECTION_URL": url, "SECRET_ID": "ops/glue-reader"}})
    glue.create_connection(ConnectionInput={
        "Name": "clear_pw", "ConnectionType": "JDBC",
        "ConnectionProperties": {"JDBC_CONNECTION_URL": url, "USERNAME": remote.ROLE,
                                 "PASSWORD": remote.PASSWORD}})
    location = f"{remote.DB}.public.customers_live"
    for name, connection in [("customers_live", "ops_glue"), ("clear_table", "clear_pw")]:
        glue.create_table(DatabaseName="ops",
                          TableInput=federated(name, connection, location, CUSTOMERS_LIVE[:3]))


def check(s, bin_path, work):
    moto_port, port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    logs = work / "glue"
    logs.mkdir(exist_ok=True)
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=open(logs / "moto.log", "w"), stderr=subprocess.STDOUT)
    server = None
    try:
        wait_for_log(logs / "moto.log", "Running on", moto)
        fill_catalog(endpoint)
        env = moto_env(endpoint)
        env["LAKEGATE_SECRET_OPS_GLUE_READER"] = json.dumps(
            {"username": remote.ROLE, "password": remote.PASSWORD})
        server = subprocess.Popen(
            [bin_path, "serve", "--catalog", "glue", "--listen", f"127.0.0.1:{port}",
             "--lake-root", str(work / "glue-lake")],
            env={**env, "LAKEGATE_AUDIT_DIR": str(logs / "audit")},
            stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT)
        wait_for_log(logs / "server.log", "listening on", server)
        dsn = f"host=127.0.0.1 port={port} dbname=lake user=admin password=admin"
        with psycopg.connect(dsn, autocommit=True) as conn:
            got = conn.execute("SELECT count(*), count(DISTINCT segment) FROM ops.customers_live").fetchone()
            want = remote.reference("SELECT count(*), count(DISTINCT segment) FROM customers_live")[0]
            s.check("Glue: a table bound to a Glue connection reads the remote", got == want, got)
            try:
                conn.execute("SELECT * FROM ops.clear_table")
                s.check("Glue: a password in the catalog is refused", False, "no error")
            except psycopg.Error as e:
                message = str(e)
                s.check("Glue: a password in the catalog is refused, without repeating it",
                        e.sqlstate == "HV000" and "SECRET_ID" in message
                        and remote.PASSWORD not in message, message)
        s.check("Glue: the password is not in the gateway's log",
                remote.PASSWORD not in (logs / "server.log").read_text())
    finally:
        for proc in (server, moto):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
