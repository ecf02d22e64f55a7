//! Tests of the schema module: fixtures, keyword tables, CEL rules and property tests.

mod fixtures;
