-- The canonical value encoding that row hashes are computed over
-- (common/row_encoding.md). The hex strings pin the format: the client-side
-- encoder's unit test (test/unit/validate) expects the very same bytes.
SET timezone = 'UTC';

SELECT v AS value, pymigrate.encode_value(v) AS encoding
  FROM (VALUES (NULL::int), (0), (1), (-1), (2147483647)) t(v);
SELECT pymigrate.encode_value(42::smallint) = pymigrate.encode_value(42::bigint) AS int2_equals_int8,
       pymigrate.encode_value(42::int) = pymigrate.encode_value(42::numeric) AS int_equals_integral_numeric;

-- numeric: display scale is not part of the value
SELECT v::text AS value, pymigrate.encode_value(v) AS encoding
  FROM (VALUES (1.0::numeric), (1.00), (1.5), (-12345678.000123), (0.0001), (1e20), ('NaN'), ('Infinity'),
               ('-Infinity'), (0.000)) t(v);
SELECT pymigrate.encode_value(1.0::numeric) = pymigrate.encode_value(1.00::numeric) AS "1.0 = 1.00",
       pymigrate.encode_value(1.10::numeric(10, 2)) = pymigrate.encode_value(1.1::numeric(5, 1)) AS "1.10 = 1.1",
       pymigrate.encode_value(1.5::numeric) = pymigrate.encode_value(1.50001::numeric) AS "1.5 = 1.50001";

-- text, varchar and char(n) are bytes; char(n) without its padding
SELECT pymigrate.encode_value('DE'::text) AS text_de, pymigrate.encode_value('DE'::char(4)) AS char4_de,
       pymigrate.encode_value('DE'::varchar(10)) = pymigrate.encode_value('DE'::text) AS varchar_equals_text,
       pymigrate.encode_value(''::text) AS empty_text, pymigrate.encode_value(NULL::text) AS null_text,
       pymigrate.encode_value(''::text) = pymigrate.encode_value(NULL::text) AS empty_equals_null;

-- an instant is an instant, whatever the zone it was written in
SELECT pymigrate.encode_value('2024-01-01 12:00:00+02'::timestamptz) AS tstz,
       pymigrate.encode_value('2024-01-01 12:00:00+02'::timestamptz)
         = pymigrate.encode_value('2024-01-01 10:00:00+00'::timestamptz) AS same_instant,
       pymigrate.encode_value('1970-01-01 00:00:00'::timestamp) AS epoch_timestamp,
       pymigrate.encode_value('1970-01-02'::date) AS date_day_one,
       pymigrate.encode_value('infinity'::timestamptz) AS infinity;
SET timezone = 'America/New_York';
SELECT pymigrate.encode_value('2024-01-01 12:00:00+02'::timestamptz) AS same_bytes_in_another_session_zone;
RESET timezone;

SELECT pymigrate.encode_value(true) AS bool_true, pymigrate.encode_value('\x00ff'::bytea) AS bytea,
       pymigrate.encode_value('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid) AS uuid,
       pymigrate.encode_value('1.5'::float8) AS float8,
       pymigrate.encode_value('-0'::float8) = pymigrate.encode_value('0'::float8) AS minus_zero,
       pymigrate.encode_value('1.5'::float4) = pymigrate.encode_value('1.5'::float8) AS float4_widened,
       pymigrate.encode_value('1 mon 2 days 00:00:03'::interval) AS interval,
       pymigrate.encode_value('10.1.2.3/8'::inet) AS inet,
       pymigrate.encode_value('12:00:00'::time) AS time;

-- jsonb: key order and number scale do not matter, types do
SELECT pymigrate.encode_value('{"b": [1, "x", null], "a": 1.0}'::jsonb) AS jsonb,
       pymigrate.encode_value('{"a": 1.00, "b": [1, "x", null]}'::jsonb)
         = pymigrate.encode_value('{"b": [1.0, "x", null], "a": 1}'::jsonb) AS same_document,
       pymigrate.encode_value('"1"'::jsonb) = pymigrate.encode_value('1'::jsonb) AS string_equals_number,
       pymigrate.encode_value('[1]'::jsonb) = pymigrate.encode_value('1'::jsonb) AS array_equals_scalar;

-- arrays, enums (by label, so OIDs may differ between servers), domains
CREATE TYPE regress_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN regress_positive AS integer CHECK (VALUE > 0);
SELECT pymigrate.encode_value(ARRAY['a', NULL, 'b']) AS text_array,
       pymigrate.encode_value('happy'::regress_mood) = pymigrate.encode_value('happy'::text) AS enum_is_its_label,
       pymigrate.encode_value(5::regress_positive) = pymigrate.encode_value(5) AS domain_is_its_base,
       pymigrate.encode_value('{{1,2},{3,4}}'::int[]) = pymigrate.encode_value('{1,2,3,4}'::int[]) AS shape_counts;

-- a type without a canonical form is a clear error
SELECT pymigrate.encode_value(point(1, 2));
SELECT pymigrate._encoding_version();
