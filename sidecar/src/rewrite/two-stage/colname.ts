// The name PostgreSQL gives a select-list item without AS (parse_target.c, FigureColname): the
// residual query replaces column references, which would change those names, so it names every
// such item explicitly with what PostgreSQL would have called it in the original statement.
import { arr, body, sval, tagOf } from '../ast.ts';
import type { Json } from '../ast.ts';

type Figured = { name: string; strength: number } | null;

const SVF: Record<string, string> = {
  SVFOP_CURRENT_DATE: 'current_date', SVFOP_CURRENT_TIME: 'current_time', SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp', SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp', SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime', SVFOP_LOCALTIMESTAMP: 'localtimestamp', SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role', SVFOP_CURRENT_USER: 'current_user', SVFOP_USER: 'user', SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog', SVFOP_CURRENT_SCHEMA: 'current_schema',
};

/** Node kinds named like a function (strength 2). */
const FIXED: Record<string, string> = {
  GroupingFunc: 'grouping', A_ArrayExpr: 'array', RowExpr: 'row', CoalesceExpr: 'coalesce', XmlSerialize: 'xmlserialize',
  JsonParseExpr: 'json', JsonScalarExpr: 'json_scalar', JsonSerializeExpr: 'json_serialize', JsonObjectConstructor: 'json_object',
  JsonArrayConstructor: 'json_array', JsonArrayQueryConstructor: 'json_array', JsonObjectAgg: 'json_objectagg', JsonArrayAgg: 'json_arrayagg',
  MergeSupportFunc: 'merge_action',
};

function lastString(items: unknown[]): string | null {
  let name: string | null = null;
  for (const i of items) {
    const s = sval(i);
    if (s !== null) name = s;
  }
  return name;
}

function named(name: string | null, strength: number): Figured {
  return name === null ? null : { name, strength };
}

function typeCast(b: Json): Figured {
  const inner = figure(b.arg);
  if (inner && inner.strength > 1) return inner;
  const tn = (body(b.typeName, 'TypeName') ?? b.typeName) as Json | undefined;
  return named(lastString(arr(tn?.names)), 1) ?? inner;
}

function caseExpr(b: Json): Figured {
  const inner = figure(b.defresult);
  return inner && inner.strength > 1 ? inner : { name: 'case', strength: 1 };
}

function sublink(b: Json): Figured {
  if (b.subLinkType === 'EXISTS_SUBLINK') return { name: 'exists', strength: 2 };
  if (b.subLinkType === 'ARRAY_SUBLINK') return { name: 'array', strength: 2 };
  if (b.subLinkType !== 'EXPR_SUBLINK') return null;
  const q = body(b.subselect, 'SelectStmt');
  const first = body(arr(q?.targetList)[0], 'ResTarget');
  if (!first) return null;
  return first.name ? { name: String(first.name), strength: 2 } : figure(first.val);
}

function minMax(b: Json): Figured {
  if (b.op === 'IS_GREATEST') return { name: 'greatest', strength: 2 };
  if (b.op === 'IS_LEAST') return { name: 'least', strength: 2 };
  return null;
}

function xmlExpr(b: Json): Figured {
  const names: Record<string, string> = { IS_XMLCONCAT: 'xmlconcat', IS_XMLELEMENT: 'xmlelement', IS_XMLFOREST: 'xmlforest', IS_XMLPARSE: 'xmlparse',
    IS_XMLPI: 'xmlpi', IS_XMLROOT: 'xmlroot', IS_XMLSERIALIZE: 'xmlserialize' };
  return named(names[String(b.op)] ?? null, 2);
}

function jsonFunc(b: Json): Figured {
  const names: Record<string, string> = { JSON_EXISTS_OP: 'json_exists', JSON_QUERY_OP: 'json_query', JSON_VALUE_OP: 'json_value' };
  return named(names[String(b.op)] ?? null, 2);
}

const FIGURES: Record<string, (b: Json) => Figured> = {
  ColumnRef: (b) => named(lastString(arr(b.fields)), 2),
  A_Indirection: (b) => named(lastString(arr(b.indirection)), 2) ?? figure(b.arg),
  FuncCall: (b) => named(lastString(arr(b.funcname)), 2),
  A_Expr: (b) => (b.kind === 'AEXPR_NULLIF' ? { name: 'nullif', strength: 2 } : null),
  TypeCast: typeCast,
  CollateClause: (b) => figure(b.arg),
  SubLink: sublink,
  CaseExpr: caseExpr,
  MinMaxExpr: minMax,
  SQLValueFunction: (b) => named(SVF[String(b.op)] ?? null, 2),
  XmlExpr: xmlExpr,
  JsonFuncExpr: jsonFunc,
};

function figure(node: unknown): Figured {
  const t = tagOf(node);
  if (!t) return null;
  const [tag, b] = t;
  const fixed = FIXED[tag];
  if (fixed !== undefined) return { name: fixed, strength: 2 };
  return FIGURES[tag]?.(b) ?? null;
}

/** The output name PostgreSQL figures for an unnamed select-list expression; null = "?column?". */
export function figureColname(node: unknown): string | null {
  return figure(node)?.name ?? null;
}
