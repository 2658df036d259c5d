// DDL over protected tables (rules/create-table.ts, create-index.ts, alter-table.ts,
// foreign-key.ts; statements.ts for renames and databases), table-driven on the eHealth catalog:
// a protected column (encrypted or anonymized) never gets a value the backend would store without
// the proxy protecting it — no DEFAULT but NULL in CREATE TABLE, a DEFAULT set later only as a
// protected constant, no GENERATED/IDENTITY, no serial, no CHECK with values, only built-in types
// (a domain can carry a DEFAULT); keys, indexes and foreign keys go to the stored form or are
// refused by name; the hidden storage is never named; plain columns keep all of it.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from './parser.ts';
import type { Rewriter } from './rewriter.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';

let rw: Rewriter;
beforeAll(async () => {
  await loadParser();
  rw = testRewriter();
});

const T = 'CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, pat_ssn text, diagnosis text';

const ALLOWED: string[] = [
  `${T}, pat_zip text, pat_birth date)`,
  `${T}, pat_zip text DEFAULT NULL, pat_birth date DEFAULT NULL::date)`,
  `${T} NOT NULL DEFAULT NULL, pat_zip varchar(5) NOT NULL, pat_birth pg_catalog.date)`,
  `${T}, pat_zip text UNIQUE, pat_birth timestamp with time zone, note text DEFAULT 'x' CHECK (note <> ''))`,
  `${T}, pat_zip text COLLATE "C", extra serial, made timestamptz DEFAULT now(), upper_name text GENERATED ALWAYS AS (upper(note)) STORED, note text)`,
  'ALTER TABLE patient ADD COLUMN note text DEFAULT \'x\'',
  'ALTER TABLE patient ALTER COLUMN note SET DEFAULT \'x\'',
  'ALTER TABLE patient ADD CONSTRAINT pk CHECK (pat_id > 0)',
  'CREATE INDEX ON patient (pat_zip)',
  "ALTER TABLE patient ALTER COLUMN pat_zip SET DEFAULT '75011'",
  "ALTER TABLE patient ALTER COLUMN pat_name SET DEFAULT 'x'",
  'ALTER TABLE patient ALTER COLUMN pat_name SET NOT NULL',
  'ALTER TABLE patient ALTER COLUMN pat_name DROP NOT NULL, ALTER COLUMN pat_ssn DROP DEFAULT',
  'ALTER TABLE patient RENAME COLUMN note TO remark',
  'ALTER TABLE patient RENAME CONSTRAINT patient_pkey TO patient_pk',
  'ALTER TRIGGER audit ON patient RENAME TO audit2',
  "CREATE INDEX ON patient (pat_id) WHERE note <> 'x'",
  'CREATE TABLE orders (id int, c int REFERENCES patient (pat_id) ON DELETE CASCADE)',
  'ALTER TABLE patient ADD FOREIGN KEY (diagnosis) REFERENCES visit (reason)',
  'ALTER TABLE patient ALTER COLUMN pat_birth TYPE date',
  'ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES patient (pat_id) DEFERRABLE INITIALLY DEFERRED',
  "CREATE INDEX ON patient ((pat_id || 'x'))",
  'CREATE DOMAIN zipdom AS text DEFAULT \'x\'',
  'ALTER DOMAIN zipdom SET DEFAULT \'y\'',
];

const REFUSED: Array<[string, RegExp]> = [
  [`${T}, pat_zip text DEFAULT '75011')`, /DEFAULT .* on anonymized column patient\.pat_zip \(generalize\)/],
  [`${T}, pat_zip text DEFAULT '75011'::text)`, /DEFAULT .* on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip text, pat_birth date DEFAULT current_date)`, /DEFAULT .* on anonymized column patient\.pat_birth/],
  [`${T} DEFAULT 'flu', pat_zip text)`, /DEFAULT .* on encrypted column patient\.diagnosis \(deterministic\)/],
  [`${T}, pat_zip text GENERATED ALWAYS AS (upper(pat_name)) STORED)`, /GENERATED .* on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip text GENERATED ALWAYS AS ('x') STORED)`, /GENERATED .* on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip int GENERATED ALWAYS AS IDENTITY)`, /GENERATED .* on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip serial)`, /type serial .* on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip zipdom)`, /type zipdom \(only built-in types.*\) on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip public.text)`, /type public\.text .* on anonymized column patient\.pat_zip/],
  ['CREATE TABLE patient (pat_id int, pat_name zipdom)', /type zipdom .* on encrypted column patient\.pat_name \(randomized\)/],
  [`${T}, pat_zip text[])`, /array type on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip text CHECK (pat_zip <> 'x'))`, /column constraint CHECK on anonymized column patient\.pat_zip/],
  [`${T}, pat_zip text, CHECK (pat_zip <> 'x'))`, /CHECK constraint over protected column patient\.pat_zip/],
  [`${T}, pat_zip text, CHECK (diagnosis <> 'x'))`, /CHECK constraint over protected column patient\.diagnosis/],
  ["ALTER TABLE patient ALTER COLUMN pat_zip SET DEFAULT upper('75011')", /expression as the value of anonymized column patient\.pat_zip/],
  ["ALTER TABLE patient ALTER COLUMN pat_name SET DEFAULT upper('x')", /an expression as the written value .* on encrypted column patient\.pat_name/],
  ["ALTER TABLE patient ALTER COLUMN pat_name SET DEFAULT 'x'::varchar(1)", /a cast to .* as the value of protected column patient\.pat_name/],
  ['ALTER TABLE patient ALTER COLUMN pat_zip TYPE zipdom', /type zipdom .* on anonymized column patient\.pat_zip/],
  ["ALTER TABLE patient ALTER COLUMN pat_name TYPE text USING 'x'", /TYPE … USING on protected column patient\.pat_name/],
  ['ALTER TABLE patient ALTER COLUMN diagnosis SET DATA TYPE bigint', /TYPE bigint on encrypted column patient\.diagnosis \(declared text\)/],
  ['ALTER TABLE patient ALTER COLUMN pat_name TYPE varchar(20) USING pat_name::varchar(5)', /TYPE … USING on protected column patient\.pat_name/],
  // text has no limit: a stored value may be longer than 20 characters (PostgreSQL would check each).
  ['ALTER TABLE patient ALTER COLUMN pat_ssn TYPE varchar(20)', /shorter length limit on encrypted column patient\.pat_ssn/],
  ['ALTER TABLE patient ALTER COLUMN pat_name TYPE text USING upper(pat_name)', /TYPE … USING on protected column patient\.pat_name/],
  ['ALTER TABLE patient ADD COLUMN pat_ssn text DEFAULT upper(\'x\')', /an expression as the written value .* on encrypted column patient\.pat_ssn/],
  ['ALTER TABLE patient ALTER COLUMN pat_name ADD GENERATED ALWAYS AS IDENTITY', /on protected column patient\.pat_name/],
  ['ALTER TABLE patient DROP COLUMN pat_ssn__bidx', /column pat_ssn__bidx is storage the proxy keeps for protected table patient/],
  ['ALTER TABLE patient ADD COLUMN extra__bidx bytea', /column extra__bidx is storage/],
  ['ALTER TABLE patient DROP CONSTRAINT "clarus:25:pat_name"', /constraint "clarus:25:pat_name" is storage/],
  ['ALTER TABLE patient ALTER CONSTRAINT "clarus:25:pat_name" DEFERRABLE', /constraint "clarus:25:pat_name" is storage/],
  ['CREATE TABLE patient (pat_id int, pat_name text, pat_name__bidx bytea)', /column pat_name__bidx is storage/],
  ['CREATE TABLE orders (id int, c text REFERENCES patient (pat_name))', /FOREIGN KEY orders\(c\) → patient\(pat_name\) is not supported: c holds plain and pat_name holds randomized ciphertext/],
  ['CREATE TABLE orders (a int, b int, FOREIGN KEY (a, b) REFERENCES patient)', /name the referenced columns \(the proxy knows patient's primary key only as its dataset's rowKey/],
  ['ALTER TABLE orders ADD FOREIGN KEY (c) REFERENCES patient (diagnosis)', /FOREIGN KEY orders\(c\) → patient\(diagnosis\)/],
  ['ALTER TABLE patient ADD FOREIGN KEY (pat_ssn) REFERENCES visit (reason)', /pat_ssn holds randomized ciphertext and reason holds deterministic ciphertext/],
  ['CREATE TABLE orders (id int REFERENCES patient (pat_id), LIKE patient)', /Create statements over protected tables are not supported/],
  ['ALTER TABLE patient RENAME TO person', /renaming protected table patient is not supported: .*add the new name to the policy/],
  ['ALTER TABLE patient RENAME COLUMN note TO pat_ssn', /renaming patient\.note to pat_ssn, a column the policy names/],
  ['ALTER TABLE patient RENAME CONSTRAINT x TO "clarus:25:pat_name"', /constraint "clarus:25:pat_name" is storage/],
  ['CREATE DATABASE test_ehealth', /CREATE DATABASE test_ehealth through the proxy is refused: .*3D000/],
  ['DROP DATABASE IF EXISTS ehealth', /DROP DATABASE ehealth through the proxy is refused/],
  ['CREATE INDEX ON patient USING gin (pat_ssn)', /index USING gin .* on encrypted column patient\.pat_ssn/],
  ['CREATE INDEX ON patient (diagnosis COLLATE "C")', /index COLLATE on encrypted column patient\.diagnosis/],
  ['CREATE INDEX ON patient (pat_ssn gin_trgm_ops)', /operator class gin_trgm_ops/],
  ["CREATE INDEX ON patient (pat_id) WHERE pat_name <> 'x'", /partial index whose predicate uses protected column patient\.pat_name/],
  ["CREATE INDEX ON patient (pat_id) WHERE patient::text <> 'x'", /partial index whose predicate uses protected column/],
  ["ALTER TABLE patient ADD COLUMN zip2 text GENERATED ALWAYS AS (pat_zip || 'x') STORED", /definition referencing protected column patient\.pat_zip/],
  ["ALTER TABLE patient ADD CONSTRAINT c CHECK (pat_zip <> 'x')", /CHECK constraint over protected column patient\.pat_zip/],
  ["ALTER TABLE patient ALTER COLUMN note TYPE text USING pat_zip || 'x'", /definition referencing protected column patient\.pat_zip/],
  ["CREATE INDEX ON patient ((pat_zip || 'x'))", /expression index over protected column patient\.pat_zip/],
  ['CREATE INDEX ON patient ((lower(pat_name)))', /expression index over protected column patient\.pat_name/],
];

describe('DDL on protected columns', () => {
  it.each(ALLOWED)('allows %s', (sql) => {
    expect(rw.analyze(sql).kind).not.toBe('refuse');
  });
  it.each(REFUSED)('refuses %s', (sql, message) => {
    const a = rw.analyze(sql);
    if (a.kind !== 'refuse') throw new Error(`expected a refusal, got ${a.kind}`);
    expect(a).toMatchObject({ code: '0A000', message: expect.stringMatching(message) });
  });
});

// What the accepted DDL becomes: the stored form, as the backend receives it.
const REWRITTEN: Array<[string, RegExp]> = [
  ['CREATE TABLE patient (pat_id int PRIMARY KEY, pat_ssn varchar(11) NOT NULL UNIQUE, diagnosis text UNIQUE)',
    /pat_ssn bytea NOT NULL CONSTRAINT "clarus:1043.15:pat_ssn".*diagnosis bytea UNIQUE CONSTRAINT "clarus:25:diagnosis".*pat_ssn__bidx bytea CONSTRAINT patient_pat_ssn_key UNIQUE/],
  ['CREATE TABLE patient (pat_id int, pat_ssn text, UNIQUE (pat_id, pat_ssn))', /CONSTRAINT patient_pat_id_pat_ssn_key UNIQUE \(pat_id, pat_ssn__bidx\)/],
  ['ALTER TABLE patient ADD CONSTRAINT u UNIQUE (pat_ssn)', /ADD CONSTRAINT u UNIQUE \(pat_ssn__bidx\)/],
  ['ALTER TABLE patient ADD COLUMN pat_ssn varchar(11) NOT NULL', /ADD COLUMN pat_ssn bytea NOT NULL CONSTRAINT "clarus:1043.15:pat_ssn" CHECK .*, ADD COLUMN pat_ssn__bidx bytea$/],
  ['ALTER TABLE patient DROP COLUMN pat_ssn', /DROP COLUMN pat_ssn RESTRICT, DROP COLUMN IF EXISTS pat_ssn__bidx RESTRICT$/],
  ['ALTER TABLE patient ALTER COLUMN pat_ssn TYPE varchar', /DROP CONSTRAINT IF EXISTS "clarus:25:pat_ssn" RESTRICT, ADD CONSTRAINT "clarus:1043:pat_ssn" CHECK \(octet_length\(pat_ssn\) >= 8\)$/],
  ['ALTER TABLE patient ALTER COLUMN pat_ssn TYPE varchar USING pat_ssn::varchar', /^ALTER TABLE patient DROP CONSTRAINT IF EXISTS "clarus:25:pat_ssn" RESTRICT, ADD CONSTRAINT "clarus:1043:pat_ssn" CHECK/],
  ["ALTER TABLE patient ADD COLUMN pat_ssn varchar(11) DEFAULT '1-2-3' NOT NULL", /ADD COLUMN pat_ssn bytea NOT NULL .*DEFAULT '\\x01[0-9a-f]+'::bytea, ADD COLUMN pat_ssn__bidx bytea DEFAULT '\\x[0-9a-f]{32}'::bytea$/],
  ["ALTER TABLE patient ALTER COLUMN pat_ssn SET DEFAULT '1-2-3'", /ALTER COLUMN pat_ssn SET DEFAULT '\\x01[0-9a-f]+'::bytea, ALTER COLUMN pat_ssn__bidx SET DEFAULT '\\x[0-9a-f]{32}'::bytea$/],
  ["ALTER TABLE patient ALTER COLUMN pat_zip SET DEFAULT '75011'", /SET DEFAULT '750\*\*'/],
  ['ALTER TABLE patient ALTER COLUMN pat_ssn DROP DEFAULT', /ALTER COLUMN pat_ssn DROP DEFAULT, ALTER COLUMN pat_ssn__bidx DROP DEFAULT$/],
  ['CREATE INDEX patient_ssn_like ON patient (pat_ssn varchar_pattern_ops)', /ON patient \(pat_ssn__bidx\)$/],
  ['CREATE UNIQUE INDEX d ON patient USING hash (diagnosis text_pattern_ops)', /USING hash \(diagnosis\)$/],
  // Type records carry the declared modifier; unnamed keys and indexes moved to a blind index take the logical name.
  ['CREATE TABLE patient (pat_id int, pat_ssn char, pat_name numeric(10,2), diagnosis timestamp(3))', /"clarus:1042\.5:pat_ssn".*"clarus:1700\.655366:pat_name".*"clarus:1114\.3:diagnosis"/],
  ['CREATE TABLE patient (pat_id int, pat_ssn varchar, diagnosis text, UNIQUE (pat_id, diagnosis))', /"clarus:1043:pat_ssn".*"clarus:25:diagnosis".*, UNIQUE \(pat_id, diagnosis\)/],
  // ALTER TABLE … ADD UNIQUE keeps PostgreSQL's own naming (it picks another name when one is taken).
  ['ALTER TABLE patient ADD UNIQUE (pat_ssn)', /ADD UNIQUE \(pat_ssn__bidx\)$/],
  ['CREATE INDEX ON patient (pat_ssn, pat_id)', /^CREATE INDEX patient_pat_ssn_pat_id_idx ON patient \(pat_ssn__bidx, pat_id\)$/],
  // A foreign key that names no referenced column (Hibernate's) references the dataset's rowKey.
  ['CREATE TABLE orders (id int, c int REFERENCES patient)', /c int REFERENCES patient \(pat_id\)\)$/],
  ['ALTER TABLE IF EXISTS orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES patient', /FOREIGN KEY \(c\) REFERENCES patient \(pat_id\)$/],
];

describe('DDL rewritten to the stored form', () => {
  it.each(REWRITTEN)('%s', (sql, expected) => {
    const a = rw.analyze(sql);
    if (a.kind !== 'plan') throw new Error(`expected a plan, got ${a.kind}: ${'message' in a ? String(a.message) : ''}`);
    expect(a.statements[0]?.sql).toMatch(expected);
  });
});
