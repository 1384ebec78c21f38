"""The citus role's preflight filters: tables and release series."""

import pytest
from ansible_collections.geostack.cluster.plugins.filter.citus import (
    citus_ddl_columns,
    citus_newest_series,
    citus_offered_series,
    citus_table_errors,
)

SEED_DDL = (
    "CREATE TABLE mobilitydb_table (column_dist integer NOT NULL, T timestamptz NOT NULL, "
    "Latitude double precision, Longitude double precision, Geom geometry(Point, 4326), "
    "PRIMARY KEY (column_dist, T))"
)


def test_ddl_columns_skip_constraints_and_lower_case_unquoted_names():
    assert citus_ddl_columns(SEED_DDL) == ["column_dist", "t", "latitude", "longitude", "geom"]


def test_ddl_columns_keep_quoted_names_and_nested_commas():
    ddl = 'CREATE TABLE x ("Vehicle" int, g geometry(Point, 4326), CONSTRAINT c CHECK (a IN (1, 2)), n numeric(10, 2))'
    assert citus_ddl_columns(ddl) == ["Vehicle", "g", "n"]


def test_the_seed_table_is_sound():
    table = {"name": "mobilitydb_table", "ddl": SEED_DDL, "distribution_column": "column_dist"}
    assert citus_table_errors([table], []) == []


def test_a_distribution_column_missing_from_the_ddl_is_named():
    table = {"name": "trips", "ddl": "CREATE TABLE trips (id int, t timestamptz)", "distribution_column": "vehicle"}
    assert citus_table_errors([table]) == ["citus_distributed_tables[0] (trips): distribution_column 'vehicle' is not one of its columns (id, t)"]


def test_a_distribution_column_missing_from_the_columns_is_named():
    table = {"name": "t", "columns": [{"name": "a", "type": "int"}], "distribution_column": "b"}
    assert "distribution_column 'b' is not one of its columns (a)" in citus_table_errors([table])[0]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "t", "distribution_column": "a"}, "needs exactly one of columns or ddl"),
        (
            {"name": "t", "columns": [{"name": "a", "type": "int"}], "ddl": "CREATE TABLE t (a int)"},
            "exactly one of",
        ),
        ({"name": "t; drop", "columns": [{"name": "a", "type": "int"}]}, "needs a name"),
        ({"name": "t", "ddl": "CREATE TABLE t (a int); DROP TABLE u", "distribution_column": "a"}, "one CREATE TABLE"),
        ({"name": "t", "ddl": "CREATE TABLE other (a int)", "distribution_column": "a"}, "does not create a table"),
        ({"name": "t", "columns": [{"name": "a"}], "distribution_column": "a"}, "needs a name (an identifier) and a type"),
        ({"name": "t", "columns": [{"name": "a", "type": "int; drop"}], "distribution_column": "a"}, "';'"),
        ({"name": "t", "columns": [{"name": "a", "type": "int"}]}, "needs a distribution_column"),
        ({"name": "t", "columns": [{"name": "a", "type": "int"}], "distribution_column": "a", "shard_count": 0}, "shard_count"),
        ({"name": "t", "columns": [{"name": "a", "type": "int"}], "distribution_column": "a", "colocate_with": "x"}, "colocate_with 'x'"),
    ],
)
def test_bad_tables_are_named(table, message):
    errors = citus_table_errors([table])
    assert any(message in error for error in errors), errors


def test_reference_tables_need_no_distribution_column_and_names_are_unique():
    reference = {"name": "kinds", "columns": [{"name": "kind", "type": "text"}]}
    assert citus_table_errors([], [reference]) == []
    assert citus_table_errors([], [reference, reference]) == ["tables defined twice: kinds"]


def test_a_non_list_is_refused():
    assert citus_table_errors({"name": "t"}) == ["citus_distributed_tables must be a list, got dict"]


INDEX = """Package: postgresql-17-citus-14.1
Version: 14.1.0.citus-1
Architecture: amd64

Package: postgresql-16-citus-14.0
Version: 14.0.1.citus-1

Package: postgresql-17-citus-14.0
Version: 14.0.0.citus-1

Package: postgresql-17-citus-14.0
Version: 14.0.1.citus-1

Package: postgresql-17-citus-14.0-dbgsym
Package: citus-enterprise-17-citus-9.10
"""
SUPPORTED = {"12": [14, 15, 16], "13": [15, 16, 17], "14": [16, 17, 18]}


def test_the_series_offered_for_a_postgresql_version_are_read_from_the_index_oldest_first():
    assert citus_offered_series(INDEX, 17) == ["14.0", "14.1"]
    assert citus_offered_series(INDEX, "16") == ["14.0"]
    assert citus_offered_series(INDEX, 18) == []
    assert citus_offered_series("", 17) == []


@pytest.mark.parametrize(
    ("series", "postgresql", "newest"),
    [
        (["14.0"], 17, "14.0"),
        (["12.1", "13.0", "14.0"], 15, "13.0"),
        (["13.0", "14.0", "14.1", "14.10"], 17, "14.10"),
        (["14.0"], 15, ""),
        ([], 17, ""),
    ],
)
def test_the_newest_series_that_supports_the_postgresql_version_is_picked(series, postgresql, newest):
    assert citus_newest_series(series, postgresql, SUPPORTED) == newest


def test_a_replication_factor_is_a_whole_number_within_the_workers_and_shared_by_colocated_tables():
    table = {"name": "mobilitydb_table", "ddl": SEED_DDL, "distribution_column": "column_dist", "replication_factor": 2}
    assert citus_table_errors([table], [], 2) == []
    assert citus_table_errors([table], [], 1) == [
        "citus_distributed_tables[0] (mobilitydb_table): replication_factor 2 needs 2 workers to hold the copies, and citus_workers has 1"]
    assert citus_table_errors([{**table, "replication_factor": 1}], [], 0) == []
    for bad in (0, "2", True, 1.5):
        assert citus_table_errors([{**table, "replication_factor": bad}]) == [
            f"citus_distributed_tables[0] (mobilitydb_table): replication_factor must be a whole number of 1 or more, got '{bad}'"]
    other = {"name": "stops", "columns": [{"name": "column_dist", "type": "int"}], "distribution_column": "column_dist",
             "colocate_with": "mobilitydb_table"}
    assert citus_table_errors([table, other], [], 2) == [
        "citus_distributed_tables[1]: replication_factor 1 differs from that of mobilitydb_table (2), which it is colocated with"]
    assert citus_table_errors([table, {**other, "replication_factor": 2}], [], 2) == []
