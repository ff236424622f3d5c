/* One client for both servers in the streaming suite (benches/stream.py): runs one statement
 * and reads its whole result without decoding values, so the figure is the server's (and the
 * wire's), not a driver's. libpq's single-row mode keeps client memory flat for SELECT; COPY
 * TO STDOUT is read with PQgetCopyData.
 *
 * Usage: stream_client CONNINFO MODE SQL    MODE: text | binary | copy
 * Prints: rows bytes seconds
 * Build:  cc -O2 -o stream_client benches/stream_client.c -I$(pg_config --includedir) -lpq
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(PGconn *conn, const char *what) {
    fprintf(stderr, "stream_client: %s: %s", what, PQerrorMessage(conn));
    exit(1);
}

/* SELECT in single-row mode; values are counted, not decoded. */
static void select_rows(PGconn *conn, const char *sql, int binary, long *rows, long *bytes) {
    if (!PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL, binary))
        fail(conn, "send");
    if (!PQsetSingleRowMode(conn))
        fail(conn, "single-row mode");
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_SINGLE_TUPLE) {
            int fields = PQnfields(res);
            for (int f = 0; f < fields; f++)
                *bytes += PQgetlength(res, 0, f);
            *rows += 1;
        } else if (status != PGRES_TUPLES_OK) {
            fprintf(stderr, "stream_client: %s", PQresultErrorMessage(res));
            exit(1);
        }
        PQclear(res);
    }
}

/* COPY … TO STDOUT: one buffer per row. */
static void copy_rows(PGconn *conn, const char *sql, long *rows, long *bytes) {
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        fail(conn, "copy");
    PQclear(res);
    char *buffer;
    int length;
    while ((length = PQgetCopyData(conn, &buffer, 0)) > 0) {
        *bytes += length;
        *rows += 1;
        PQfreemem(buffer);
    }
    if (length == -2)
        fail(conn, "copy data");
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            fail(conn, "copy end");
        PQclear(res);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: stream_client CONNINFO text|binary|copy SQL\n");
        return 2;
    }
    PGconn *conn = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK)
        fail(conn, "connect");
    long rows = 0, bytes = 0;
    double start = now();
    if (strcmp(argv[2], "copy") == 0)
        copy_rows(conn, argv[3], &rows, &bytes);
    else
        select_rows(conn, argv[3], strcmp(argv[2], "binary") == 0, &rows, &bytes);
    printf("%ld %ld %.6f\n", rows, bytes, now() - start);
    PQfinish(conn);
    return 0;
}
