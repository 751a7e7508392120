\echo Use "CREATE EXTENSION pymigrate" to load this file. \quit
