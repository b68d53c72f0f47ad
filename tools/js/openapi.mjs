// What both checks share: the document, its $refs, its operations, and its
// schemas compiled as JSON Schema 2020-12 (OpenAPI 3.1's dialect) by Ajv in
// strict mode, so that a keyword Ajv does not know is an error, not a
// schema that quietly checks nothing.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

// Where the document's components/schemas live inside Ajv.
const BASE = "urn:stagewise:openapi";
const SCHEMA_REF = "#/components/schemas/";

export function loadDocument(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

// The node a local "#/a/b" reference points at, or undefined.
export function resolvePointer(doc, ref) {
  if (!ref.startsWith("#/")) return undefined;
  let node = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

// A Response, Parameter or Request Body object, following its $ref.
export function deref(doc, node) {
  let seen = 0;
  while (node && typeof node === "object" && typeof node.$ref === "string" && seen++ < 16)
    node = resolvePointer(doc, node.$ref);
  return node;
}

// A copy of `schema` whose references to components/schemas point into Ajv.
function rewriteRefs(schema) {
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (schema === null || typeof schema !== "object") return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema))
    out[k] =
      k === "$ref" && typeof v === "string" && v.startsWith(SCHEMA_REF)
        ? `${BASE}#/$defs/${v.slice(SCHEMA_REF.length)}`
        : rewriteRefs(v);
  return out;
}

/** A function that compiles one schema of `doc` (throws on a bad schema). */
export function schemaCompiler(doc) {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  // OpenAPI's own annotations beside JSON Schema's.
  ajv.addVocabulary(["discriminator", "xml", "externalDocs", "example"]);
  ajv.addSchema({ $id: BASE, $defs: rewriteRefs(doc.components?.schemas ?? {}) });
  return (schema) => ajv.compile(rewriteRefs(schema));
}

export const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** Every operation: {method, path, op}. */
export function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const method of METHODS) if (item[method]) out.push({ method, path, op: item[method] });
  return out;
}

function templateRegex(path, param) {
  const escaped = path.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
  return new RegExp("^" + escaped.replace(/\{[^}]+\}/g, param) + "$");
}

/**
 * The documented operation a request went to: literal paths first, then the
 * template with the most literal text whose parameters match one segment
 * each, then one whose last parameter takes the rest of the path (ids with
 * slashes, as /v1/deadletters/{id}). Undefined when none matches.
 */
export function findOperation(doc, method, target) {
  const path = target.split("?")[0];
  const candidates = operations(doc).filter((o) => o.method === method.toLowerCase());
  const literal = (p) => p.replace(/\{[^}]+\}/g, "").length;
  candidates.sort((a, b) => literal(b.path) - literal(a.path));
  return (
    candidates.find((o) => o.path === path) ??
    candidates.find((o) => templateRegex(o.path, "[^/]+").test(path)) ??
    candidates.find((o) => templateRegex(o.path, ".+").test(path))
  );
}
