// DDL over protected tables (rules/create-table.ts, create-index.ts, alter-table.ts), table-driven on the eHealth catalog: a protected column
// (encrypted or anonymized) never gets a value the backend would store without the proxy
// protecting it — no DEFAULT but NULL, no GENERATED/IDENTITY, no serial, no CHECK with values,
// only built-in types (a domain can carry a DEFAULT); plain columns keep all of it.
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
  ["ALTER TABLE patient ALTER COLUMN pat_zip SET DEFAULT '75011'", /ALTER TABLE ColumnDefault on protected column patient\.pat_zip/],
  ["ALTER TABLE patient ALTER COLUMN pat_name SET DEFAULT 'x'", /on protected column patient\.pat_name/],
  ['ALTER TABLE patient ALTER COLUMN pat_zip TYPE zipdom', /on protected column patient\.pat_zip/],
  ["ALTER TABLE patient ADD COLUMN zip2 text GENERATED ALWAYS AS (pat_zip || 'x') STORED", /definition referencing protected column patient\.pat_zip/],
  ["ALTER TABLE patient ADD CONSTRAINT c CHECK (pat_zip <> 'x')", /definition referencing protected column patient\.pat_zip/],
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
