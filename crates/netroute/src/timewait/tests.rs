//! Tests of the VTW table.
